// Command display is a CloudEvents receiver that prints every event it gets, like the
// seed's display sink (vancehub/sink-display): the connector's v_target when you try it
// locally (README: "Try it locally"). It is testing/sink, the recording receiver of the
// tests, keeping nothing and printing instead.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/cloudbill/alicloud-billing-source/testing/sink"
)

const (
	defaultListen = "127.0.0.1:8081" // the seed's sink-display port, as in config.example.json
	maxBody       = 1 << 20          // a request body above this is refused (413)
)

const usage = `Usage: display [--listen HOST:PORT]

A CloudEvents receiver over HTTP that prints every event it gets on stdout: its id,
source, type, subject, time and extensions (account, revision), then its data as indented
JSON. It accepts binary and structured mode (the CloudEvents Go SDK's HTTP binding),
answers 202 to a valid event and 4xx to anything else (a body above 1 MiB too), and
keeps nothing. Point the connector's v_target at it.

It serves until SIGINT (Ctrl-C) or SIGTERM and then exits 0. A bad flag, or an address
that cannot be listened on (a port in use), is one line on stderr and exit status 2.

Flags:
  --listen HOST:PORT  where to listen (default %q, the v_target of
                      config.example.json)
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run serves until ctx ends and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("display", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	listen := fs.String("listen", defaultListen, "")
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stdout, usage, defaultListen)
		return 0
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err != nil {
		fmt.Fprintf(stderr, "display: %v (see display --help)\n", err)
		return 2
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "display: --listen %s: %v\n", *listen, err)
		return 2
	}
	s := sink.New()
	s.KeepNothing()
	s.OnReceive((&printer{w: stdout}).print)
	srv := &http.Server{Handler: http.MaxBytesHandler(s.Handler(), maxBody), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	fmt.Fprintf(stderr, "display sink at http://%s: set v_target to it; every CloudEvent it gets is printed here\n", ln.Addr())
	<-ctx.Done()
	_ = srv.Close()
	fmt.Fprintln(stderr, "display: stopped")
	return 0
}

// printer writes events one whole event at a time (the connector sends many at once).
type printer struct {
	mu sync.Mutex
	w  io.Writer
	n  int
}

func (p *printer) print(e event.Event) {
	var b strings.Builder
	field := func(name, value string) { fmt.Fprintf(&b, "%-9s %s\n", name+":", clean(value)) }
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	fmt.Fprintf(&b, "--- event %d ---\n", p.n)
	field("id", e.ID())
	field("source", e.Source())
	field("type", e.Type())
	if e.Subject() != "" {
		field("subject", e.Subject())
	}
	if !e.Time().IsZero() {
		field("time", e.Time().Format(time.RFC3339Nano))
	}
	exts := e.Extensions()
	names := make([]string, 0, len(exts))
	for k := range exts {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		field(k, fmt.Sprint(exts[k]))
	}
	b.WriteString(data(e))
	_, _ = io.WriteString(p.w, b.String())
}

// data is the event's data: JSON indented, anything else quoted.
func data(e event.Event) string {
	d := e.Data()
	if len(d) == 0 {
		return "data:     (none)\n"
	}
	var buf bytes.Buffer
	if json.Valid(d) && json.Indent(&buf, d, "", "  ") == nil {
		return "data:\n" + escapeJSON(buf.String()) + "\n"
	}
	return fmt.Sprintf("data:     %s (%s, not JSON)\n", strconv.Quote(string(d)), clean(e.DataContentType()))
}

// clean returns s as it is when every character prints plainly, else quoted: an
// attribute cannot move the terminal's cursor or colour its text.
func clean(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) || r == utf8.RuneError }) < 0 {
		return s
	}
	return strconv.Quote(s)
}

// escapeJSON writes the characters of indented JSON that do not print (DEL, C1 controls,
// format characters, invalid UTF-8: only inside strings, where valid JSON may hold them
// raw) as \u escapes, so that the text stays the same JSON and is safe on a terminal.
func escapeJSON(s string) string {
	var b strings.Builder
	for _, r := range s { // an invalid byte is utf8.RuneError, which prints
		switch {
		case r == '\n' || unicode.IsPrint(r):
			b.WriteRune(r)
		case r > 0xFFFF:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}
