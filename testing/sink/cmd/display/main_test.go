package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lockedBuffer is stdout, written by the display's handlers and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// display runs the display sink on a free port until the test ends (then it must exit 0)
// and returns its URL and its stdout.
func display(t *testing.T) (string, *lockedBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout := &lockedBuffer{}
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		code := run(ctx, []string{"--listen", "127.0.0.1:0"}, stdout, pw)
		_ = pw.Close()
		done <- code
	}()
	r := bufio.NewReader(pr)
	line, err := r.ReadString('\n')
	require.NoError(t, err)
	go func() { _, _ = io.Copy(io.Discard, r) }()
	t.Cleanup(func() {
		cancel()
		assert.Equal(t, 0, <-done, "exit status when stopped")
	})
	url := regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+`).FindString(line)
	require.NotEmpty(t, url, line)
	return url, stdout
}

func sample(id string) cloudevents.Event {
	e := cloudevents.NewEvent()
	e.SetID(id)
	e.SetSource("cloud.alicloud.billing")
	e.SetType("alicloud.account_billing.daily")
	e.SetSubject("2026-11-03/1234567890123456/ecs/PayAsYouGo/3f1a9c0b22de")
	e.SetTime(time.Date(2026, 11, 4, 2, 0, 0, 0, time.UTC))
	e.SetExtension("revision", "2")
	_ = e.SetData(cloudevents.ApplicationJSON, map[string]any{"BillingDate": "2026-11-03", "PretaxAmount": 0.23})
	return e
}

const printed = `id:       %s
source:   cloud.alicloud.billing
type:     alicloud.account_billing.daily
subject:  2026-11-03/1234567890123456/ecs/PayAsYouGo/3f1a9c0b22de
time:     2026-11-04T02:00:00Z
revision: 2
data:
{
  "BillingDate": "2026-11-03",
  "PretaxAmount": 0.23
}
`

func TestDisplay_PrintsBinaryAndStructuredEventsAndAnswers2xx(t *testing.T) {
	url, stdout := display(t)
	c, err := cloudevents.NewClientHTTP()
	require.NoError(t, err)
	ctx := cloudevents.ContextWithTarget(context.Background(), url)
	require.True(t, cloudevents.IsACK(c.Send(ctx, sample("binary-1"))))
	require.True(t, cloudevents.IsACK(c.Send(cloudevents.WithEncodingStructured(ctx), sample("structured-2"))))
	assert.Equal(t, "--- event 1 ---\n"+strings.Replace(printed, "%s", "binary-1", 1)+
		"--- event 2 ---\n"+strings.Replace(printed, "%s", "structured-2", 1), stdout.String())
}

func post(t *testing.T, url string, header map[string]string, body string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	return resp.StatusCode
}

func TestDisplay_HostileEventsPrintHarmlesslyAndTooBigIsRefused(t *testing.T) {
	url, stdout := display(t)
	// Structured mode: a header value cannot hold control characters, JSON can.
	assert.Equal(t, http.StatusAccepted, post(t, url, map[string]string{"Content-Type": "application/cloudevents+json"},
		`{"specversion":"1.0","id":"x\u001b[2J","source":"s","type":"t","datacontenttype":"application/json",`+
			"\"data\":{\"a\":\"\u009b31m\u202e\"}}"))
	ce := map[string]string{"ce-specversion": "1.0", "ce-id": "y", "ce-source": "s", "ce-type": "t", "Content-Type": "text/plain"}
	assert.Equal(t, http.StatusAccepted, post(t, url, ce, "plain\x07text"))
	ce["ce-id"] = "big"
	assert.Equal(t, http.StatusBadRequest, post(t, url, ce, strings.Repeat("a", maxBody+1)), "over 1 MiB")
	assert.Equal(t, http.StatusUnsupportedMediaType, post(t, url, map[string]string{"Content-Type": "text/plain"}, "no event"))
	out := stdout.String()
	assert.Contains(t, out, "id:       \"x\\x1b[2J\"\n")
	assert.Contains(t, out, "\n{\n  \"a\": \"\\u009b31m\\u202e\"\n}\n", "still the same JSON")
	assert.Contains(t, out, "data:     \"plain\\atext\" (text/plain, not JSON)\n")
	assert.NotContains(t, out, "big")
	assert.NotContains(t, out, "\x1b")
	assert.NotContains(t, out, "\x07")
	assert.Equal(t, 2, strings.Count(out, "--- event "))
}

func TestRun_BadFlagsAndAPortInUseAreOneLineAndStatus2(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	for args, want := range map[string]string{
		"--port 1": "display: flag provided but not defined: -port",
		"extra":    `display: unexpected argument "extra"`,
		"--listen " + taken.Addr().String(): "display: --listen " + taken.Addr().String() + ": listen tcp " +
			taken.Addr().String() + ": bind: address already in use",
	} {
		var stdout, stderr lockedBuffer
		assert.Equal(t, 2, run(context.Background(), strings.Fields(args), &stdout, &stderr), args)
		assert.Empty(t, stdout.String(), args)
		assert.True(t, strings.HasPrefix(stderr.String(), want), "%s: %q", args, stderr.String())
		assert.Equal(t, 1, strings.Count(stderr.String(), "\n"), "%s: one line", args)
	}
	var stdout, stderr lockedBuffer
	require.Equal(t, 0, run(context.Background(), []string{"--help"}, &stdout, &stderr))
	for _, s := range []string{`(default "127.0.0.1:8081"`, "binary and structured", "SIGINT", "v_target"} {
		assert.Contains(t, stdout.String(), s)
	}
}
