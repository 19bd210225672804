package billing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/cloudbill/alicloud-billing-source/connector/textsafe"
)

// MaxResponseBytes caps the body of every answer the API gives. A full page (PageSize rows
// of the product-grouped daily bill) is a few hundred KB of JSON; 16 MiB leaves a wide
// margin for long names and whitespace while keeping a broken or hostile endpoint from
// making the connector allocate without bound (a 1 GiB answer used to take 9 GB of RSS).
// A longer body fails the page with ResponseTooLarge; the page is tried again like other
// garbled answers, and each attempt reads at most this much.
const MaxResponseBytes = 16 << 20

// guard is the RoundTripper under the SDK: it limits every response body to limit bytes,
// refuses to follow redirects (the SDK's http.Client would resend the signed request,
// token included, to whatever host a 3xx names) and hands the SDK no error answer it
// cannot read without panicking (see checkErrorBody).
type guard struct {
	next  http.RoundTripper
	limit int64
	// rawErrorBodies passes error answers through unchecked: tests only, to show that
	// Client.call survives the SDK's panic on its own.
	rawErrorBodies bool
}

func (g guard) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := g.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		drainAndClose(resp.Body, g.limit)
		return nil, &redirectError{status: resp.StatusCode, host: redirectHost(req, resp)}
	}
	if resp.ContentLength > g.limit {
		_ = resp.Body.Close()
		return nil, &tooLargeError{limit: g.limit}
	}
	resp.Body = &limitedBody{body: resp.Body, left: g.limit, limit: g.limit}
	if (resp.StatusCode < 200 || resp.StatusCode >= 300) && !g.rawErrorBodies {
		checkErrorBody(resp)
	}
	return resp, nil
}

// checkErrorBody replaces an error answer (any status but 2xx, which the SDK parses
// with errors.NewServerError) whose JSON the SDK would panic on by a well-formed one:
// Code UnexpectedResponse, the HTTP status kept, the RequestId kept when it is a string,
// nothing else of the original. NewServerError asserts without checking that Code,
// Message, RequestId, HostId and Recommend are strings and AccessDeniedDetail is an
// object ({"Code":5} panics the process). A body that is not JSON, or not a JSON object,
// is passed on: the SDK reads no member of it. A body that cannot be read (too large, a
// broken connection) reaches the SDK as the same read error, as if unchecked.
func checkErrorBody(resp *http.Response) {
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{err}))
		return
	}
	members, readable := sdkReadableError(body)
	if readable {
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return
	}
	repl := map[string]string{
		"Code": unexpectedResponse,
		"Message": "the endpoint's error answer (HTTP " + strconv.Itoa(resp.StatusCode) +
			") has members of unexpected types; not shown",
	}
	if id, ok := members["RequestId"].(string); ok {
		repl["RequestId"] = id
	}
	b, _ := json.Marshal(repl) // strings only: cannot fail
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header = resp.Header.Clone()
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	resp.Header.Set("Content-Type", "application/json;charset=utf-8")
	resp.Header.Del("Content-Encoding")
}

// unexpectedResponse is the Code of an answer that is not in the API's shape: a proxy's
// page, JSON the SDK cannot read, a success answer without its data. It is retried.
const unexpectedResponse = "UnexpectedResponse"

// sdkReadableError reports whether errors.NewServerError reads body without panicking,
// with body's members when it is a JSON object. The SDK decodes it with encoding/json
// into an interface{} (as here: the same rules for duplicate keys) and looks members up
// by their exact names (jmespath on a map).
func sdkReadableError(body []byte) (members map[string]any, readable bool) {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return nil, true // not JSON: the SDK keeps it as the message, reads nothing
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, true // an array, a string, a number: no member is found
	}
	for _, k := range []string{"Code", "Message", "RequestId", "HostId", "Recommend"} {
		if x := m[k]; x != nil {
			if _, ok := x.(string); !ok {
				return m, false
			}
		}
	}
	if x := m["AccessDeniedDetail"]; x != nil {
		if _, ok := x.(map[string]any); !ok {
			return m, false
		}
	}
	return m, true
}

// errReader fails every read with err.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// drainAndClose reads a little of a body we do not use, so the connection can be reused.
func drainAndClose(body io.ReadCloser, limit int64) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, min(limit, 64<<10)))
	_ = body.Close()
}

// redirectHost is the host a redirect names: never its path or query (the Location of a
// moved RPC endpoint repeats the signed query).
func redirectHost(req *http.Request, resp *http.Response) string {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "(no Location)"
	}
	u, err := req.URL.Parse(loc)
	if err != nil || u.Host == "" {
		return "(unreadable Location)"
	}
	return textsafe.Line(u.Host, 100)
}

// redirectError is a 3xx answer from the endpoint.
type redirectError struct {
	status int
	host   string
}

func (e *redirectError) Error() string {
	return fmt.Sprintf("the endpoint answered HTTP %d (redirect to host %s); redirects are not followed", e.status, e.host)
}

// tooLargeError is a body longer than MaxResponseBytes.
type tooLargeError struct{ limit int64 }

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("the answer is larger than %d MiB; not read further", e.limit>>20)
}

// limitedBody returns the body's bytes up to limit, then tooLargeError if more follow
// (rather than a silent EOF that would hand the SDK a truncated document).
type limitedBody struct {
	body  io.ReadCloser
	left  int64
	limit int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// At the limit: one more byte means the body is too long.
		var one [1]byte
		n, err := b.body.Read(one[:])
		if n > 0 {
			return 0, &tooLargeError{limit: b.limit}
		}
		if err == nil {
			return 0, nil
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.body.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.body.Close() }
