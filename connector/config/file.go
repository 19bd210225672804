package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// MaxFileBytes is the largest config file that is read: 4 MiB. A real config.json is a few
// hundred bytes, or about 100 per account (MaxAccounts of them with their own role_arn
// and external_id: about 1.5 MiB); the limit keeps a wrong path (a log, a device) from
// being read forever.
const MaxFileBytes = 4 << 20

// maxFileText is MaxFileBytes as the error messages say it.
var maxFileText = fmt.Sprintf("%d MiB", MaxFileBytes>>20)

// readFile finds the config file (the explicit path, else the first of DefaultPaths that
// exists) and decodes its one JSON object. No file at all is not an error: everything may
// come from the environment.
func readFile(explicit string) (map[string]json.RawMessage, string, error) {
	paths := DefaultPaths
	if explicit != "" {
		paths = []string{explicit}
	}
	for _, p := range paths {
		b, missing, err := readRegular(p)
		if missing && explicit == "" {
			continue
		}
		if err != nil {
			return nil, p, err
		}
		raw, err := decodeObject(p, b)
		if err != nil {
			return nil, p, err
		}
		return raw, p, nil
	}
	return map[string]json.RawMessage{}, "", nil
}

// readRegular reads p only if it is a regular file (symbolic links to one are followed) of at
// most MaxFileBytes. Directories, named pipes, sockets and devices are refused before they
// are opened: a FIFO would block the open, /dev/zero would be read forever. missing reports
// that nothing exists at p (err is then set too).
func readRegular(p string) (b []byte, missing bool, err error) {
	cannot := func(err error) error {
		return &Error{Problem: fmt.Sprintf("cannot read %s: %v", p, unwrapPath(err))}
	}
	fi, err := os.Stat(p)
	if err != nil {
		return nil, errors.Is(err, fs.ErrNotExist), cannot(err)
	}
	if err := regularAndSmall(p, fi); err != nil {
		return nil, false, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, false, cannot(err)
	}
	defer f.Close()
	// The path may have been replaced between the stat and the open: check what was opened.
	if fi, err = f.Stat(); err != nil {
		return nil, false, cannot(err)
	}
	if err := regularAndSmall(p, fi); err != nil {
		return nil, false, err
	}
	// The file may also grow after the stat: read no more than the limit allows.
	b, err = readAtMost(f, MaxFileBytes)
	if err != nil {
		return nil, false, cannot(err)
	}
	if b == nil {
		return nil, false, tooLarge(p)
	}
	return b, false, nil
}

func regularAndSmall(p string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return &Error{Problem: fmt.Sprintf("%s is not a regular file (it is %s); give the path of the config.json file itself", p, describeMode(fi.Mode()))}
	}
	if fi.Size() > MaxFileBytes {
		return tooLarge(p)
	}
	return nil
}

func tooLarge(p string) error {
	return &Error{Problem: fmt.Sprintf("%s is larger than %s, the most a config file may be", p, maxFileText)}
}

func describeMode(m fs.FileMode) string {
	switch {
	case m.IsDir():
		// docker -v creates a directory when the host file to mount does not exist.
		return "a directory; docker creates one when the mounted file does not exist on the host"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	default:
		return "not a plain file"
	}
}

// readAtMost reads all of r if it holds at most limit bytes; when it holds more it returns
// nil and no error, having read limit+1 bytes and no further.
func readAtMost(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, nil
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// decodeObject decodes b, the text of the file p, as exactly one JSON object: nothing but
// white space may follow it, and no key may appear twice, not even in another case
// (encoding/json would silently keep the last one). It walks the tokens to see the keys.
// Messages never quote values: any of them may be a secret.
func decodeObject(p string, b []byte) (map[string]json.RawMessage, error) {
	notObject := func(why string) error {
		return &Error{Problem: fmt.Sprintf("%s is not a JSON object: %s; it must hold one object such as {\"v_target\": \"http://localhost:8081\"}", p, why)}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	switch {
	case errors.Is(err, io.EOF):
		return nil, notObject("the file is empty")
	case err != nil:
		return nil, notObject(syntaxProblem(b, err))
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, notObject(fmt.Sprintf("it holds %s at line %d", kindOf(tok), lineAt(b, skipSpace(b, 0))))
	}
	raw := map[string]json.RawMessage{}
	first := map[string]string{} // lower-case key -> the key as first written
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, notObject(syntaxProblem(b, err))
		}
		k, _ := tok.(string) // inside an object the decoder only returns string keys
		if prev, dup := first[strings.ToLower(k)]; dup {
			return nil, duplicateKey(prev, k, fmt.Sprintf("%s at line %d", p, lineAt(b, int(dec.InputOffset()))))
		}
		first[strings.ToLower(k)] = k
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, notObject(syntaxProblem(b, err))
		}
		raw[k] = v
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, notObject(syntaxProblem(b, err))
	}
	if rest := skipSpace(b, int(dec.InputOffset())); rest < len(b) {
		return nil, &Error{Problem: fmt.Sprintf("%s has more after its JSON object, at line %d; the file must hold one object and nothing after it", p, lineAt(b, rest))}
	}
	return raw, nil
}

func duplicateKey(prev, k, where string) error {
	key := prev
	if k, ok := knownKey(prev); ok {
		key = k.head()
	}
	if prev == k {
		return &Error{Key: key, Problem: fmt.Sprintf("key %q appears twice (again in %s); keep one", k, where)}
	}
	return &Error{Key: key, Problem: fmt.Sprintf("keys %q and %q are both present (the second in %s) and keys are matched ignoring case; keep one", prev, k, where)}
}

// syntaxProblem describes a decoding error with its line; it never quotes the input.
func syntaxProblem(b []byte, err error) string {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		off := int(se.Offset)
		if off > 0 {
			off-- // Offset is just after the offending byte
		}
		return fmt.Sprintf("%s at line %d", se.Error(), lineAt(b, off))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Sprintf("it ends before the object is closed, at line %d", lineAt(b, len(b)))
	default:
		return err.Error()
	}
}

func kindOf(tok json.Token) string {
	switch t := tok.(type) {
	case nil:
		return "null"
	case json.Delim:
		if t == '[' {
			return "an array"
		}
		return fmt.Sprintf("%q", t.String())
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	default:
		return fmt.Sprintf("a %T", tok)
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// lineAt is the 1-based line of byte offset off in b.
func lineAt(b []byte, off int) int {
	if off > len(b) {
		off = len(b)
	}
	return 1 + bytes.Count(b[:off], []byte("\n"))
}
