package sender

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	cejs "github.com/cloudevents/sdk-go/protocol/nats_jetstream/v2"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/cloudbill/alicloud-billing-source/connector/config"
)

// natsTransport publishes to a JetStream stream with nats.go's jetstream package. The
// message is the CloudEvents NATS JetStream binding's own (its WriteMsg: ce- headers in
// binary mode, the JSON event as the body in structured mode); the event id goes in
// Nats-Msg-Id, so the stream stores an event once however often it is sent within its
// duplicate window; and an event is delivered only when the stream's PubAck says so.
//
// The binding's own Sender is not used: it publishes without a Nats-Msg-Id, creates any
// missing stream (with subjects STREAM.* and no duplicate window) whatever the caller
// wants, and takes no context, so a publish cannot be bounded by the sender's timeout.
//
// The connection is made on the first send (a server that is down at the start is an
// outage like any other) and then kept by nats.go, which reconnects by itself; the stream
// is checked (or created) once, before the first publish. Connecting and checking run on
// a goroutine of their own (natsSetUp), one at a time, which every send waits for with its
// own context: nats.go's Connect takes none, and a stop must not wait for it. What a
// server may send before its handshake is complete is bounded in bytes (natsDialer) and
// in time (connectTimeout).
type natsTransport struct {
	server         string // scheme://host:port, no user
	opts           []nats.Option
	subject        string
	stream         string
	binary         bool // binary content mode, else structured
	create         bool
	window         time.Duration // the duplicate window exactly-once needs
	timeout        time.Duration
	connectTimeout time.Duration // a dial, then a handshake
	creds          string        // the config keys of the credentials, for messages
	withCA         bool
	redact         redactor
	log            *slog.Logger
	dialer         *natsDialer
	life           context.Context // ends on close: the set-up in flight stops
	end            context.CancelFunc
	mu             sync.Mutex
	nc             *nats.Conn
	js             jetstream.JetStream
	ready          bool       // the stream was found or created, and it takes the subject
	setting        *natsSetUp // the set-up in flight, nil when none
	closed         bool
}

// natsSetUp is one attempt to connect (when not connected) and check the stream; done is
// closed when it has its result.
type natsSetUp struct {
	done chan struct{}
	js   jetstream.JetStream
	o    outcome
	err  error
}

// natsCloseGrace is how long close lets nats.go flush and close before it closes the
// sockets under it.
const natsCloseGrace = 500 * time.Millisecond

func newNATS(o Options, pol Policy, red redactor, log *slog.Logger) (*natsTransport, error) {
	n := o.NATS
	u := url.URL{Scheme: o.Target.Scheme, Host: o.Target.Host}
	t := &natsTransport{server: u.String(), subject: n.Subject, stream: n.Stream, binary: !o.Structured, create: n.CreateStream,
		window: o.DuplicateWindow, timeout: pol.Timeout, connectTimeout: min(pol.Timeout, 10*time.Second),
		creds: "no credentials", withCA: n.CAFile != "", redact: red, log: log}
	t.life, t.end = context.WithCancel(context.Background())
	t.dialer = newNATSDialer(t.life, t.connectTimeout)
	t.opts = []nats.Option{
		nats.Name("alicloud-billing-source"),
		nats.Timeout(t.connectTimeout),        // the handshake, after the dial (natsDialer's own timeout)
		nats.FlusherTimeout(t.connectTimeout), // a write to a server that does not read
		nats.SetCustomDialer(t.dialer),
		nats.SkipHostLookup(),  // the dialer resolves, within its timeout and context
		nats.MaxReconnects(-1), // once connected, nats.go reconnects for good
		nats.ReconnectWait(500 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("NATS connection lost, reconnecting", "server", t.server, "error", red.scrub(err.Error()))
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) {
			t.dialer.handshook()
			log.Info("NATS connection restored", "server", t.server)
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			log.Warn("NATS error", "server", t.server, "error", red.scrub(err.Error()))
		}),
	}
	switch {
	case n.CredsFile != "":
		if err := checkCredsFile(n.CredsFile); err != nil {
			return nil, err
		}
		t.opts, t.creds = append(t.opts, nats.UserCredentials(n.CredsFile)), "nats.creds_file"
	case n.NKeyFile != "":
		opt, err := nats.NkeyOptionFromSeed(n.NKeyFile)
		if err != nil { // the seed's text is never in the message: only the file's name
			return nil, &config.Error{Key: "nats.nkey_file", Problem: fmt.Sprintf("%s does not hold an NKey seed", n.NKeyFile)}
		}
		t.opts, t.creds = append(t.opts, opt), "nats.nkey_file"
	case n.User != "":
		t.opts, t.creds = append(t.opts, nats.UserInfo(n.User, n.Password.Reveal())), "nats.user and nats.password"
	}
	if n.CAFile != "" {
		if err := checkCAFile("nats.ca_file", n.CAFile); err != nil {
			return nil, err
		}
		t.opts = append(t.opts, nats.RootCAs(n.CAFile))
	}
	if n.TLS {
		t.opts = append(t.opts, nats.Secure())
	}
	return t, nil
}

// conn returns the connection once it is made and the stream checked; until then it
// starts the set-up (or joins the one in flight) and waits for it, or for ctx.
func (t *natsTransport) conn(ctx context.Context) (jetstream.JetStream, outcome, error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, aborted, errors.New("the sender is closed")
	}
	if t.nc != nil && t.nc.IsClosed() { // nats.go gave up (credentials refused on a reconnect)
		t.nc, t.js, t.ready = nil, nil, false
	}
	if t.ready {
		js := t.js
		t.mu.Unlock()
		return js, delivered, nil
	}
	s := t.setting
	if s == nil {
		s = &natsSetUp{done: make(chan struct{})}
		t.setting = s
		go t.setUp(s, t.nc, t.js)
	}
	t.mu.Unlock()
	select {
	case <-s.done:
		if s.err != nil && ctx.Err() != nil {
			return nil, aborted, ctx.Err()
		}
		return s.js, s.o, s.err
	case <-ctx.Done():
		return nil, aborted, ctx.Err()
	}
}

// setUp connects (when nc is nil) and checks the stream, with the transport's life as its
// context: a send that stops waiting leaves it to the next one.
func (t *natsTransport) setUp(s *natsSetUp, nc *nats.Conn, js jetstream.JetStream) {
	defer close(s.done)
	if nc == nil {
		nc, js, s.o, s.err = t.connect()
	}
	if s.err == nil {
		s.o, s.err = t.ensureStream(t.life, js, t.create)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.setting = nil
	switch {
	case t.closed:
		if nc != nil {
			nc.Close()
		}
		s.o, s.err = aborted, errors.New("the sender is closed")
	case nc != nil:
		t.nc, t.js, t.ready = nc, js, s.err == nil
	}
	if s.err == nil {
		s.js = js
	}
}

// connect makes the connection: bounded by connectTimeout for the dial and as much for
// the handshake, by MaxNATSHandshake bytes, and cut short by close.
func (t *natsTransport) connect() (*nats.Conn, jetstream.JetStream, outcome, error) {
	nc, err := nats.Connect(t.server, t.opts...)
	if err != nil {
		o, cerr := t.classify(t.life, err)
		var ne net.Error
		if o == outage && errors.As(err, &ne) && ne.Timeout() {
			cerr = fmt.Errorf("undelivered: no NATS connection to %s within %s (the server did not answer, or did not complete the handshake)", t.server, t.connectTimeout)
		}
		return nil, nil, o, cerr
	}
	t.dialer.handshook()
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, outage, fmt.Errorf("JetStream on %s: %s", t.server, t.redact.scrub(err.Error()))
	}
	t.log.Debug("connected to NATS", "server", t.server)
	return nc, js, delivered, nil
}

// jsNotEnabled reports a server, or an account, without JetStream (503 with error code
// 10076 or 10039): no retry brings it.
func jsNotEnabled(err error) bool {
	var api *jetstream.APIError
	if errors.As(err, &api) && (api.ErrorCode == jetstream.JSErrCodeJetStreamNotEnabled || api.ErrorCode == jetstream.JSErrCodeJetStreamNotEnabledForAccount) {
		return true
	}
	return errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount)
}

// ensureStream finds the stream, or creates it when create says so (nats.create_stream;
// never for a probe), and checks that it takes the subject and remembers ids long enough.
func (t *natsTransport) ensureStream(ctx context.Context, js jetstream.JetStream, create bool) (outcome, error) {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	s, err := js.Stream(ctx, t.stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if !create {
			return answered, &ConfigError{Kind: ErrMissing, Msg: fmt.Sprintf(
				"JetStream stream %q does not exist on %s: create it with subject %q and a duplicate window of at least %s (settle_days+1 days), or set nats.create_stream to true",
				t.stream, t.server, t.subject, t.window)}
		}
		s, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: t.stream, Subjects: []string{t.subject},
			Storage: jetstream.FileStorage, Duplicates: t.window,
			Description: "CloudEvents of alicloud-billing-source; Nats-Msg-Id is the event id"})
		if err == nil {
			t.log.Info("created the JetStream stream", "stream", t.stream, "subject", t.subject, "duplicate_window", t.window.String())
		}
	}
	if err != nil && errors.Is(err, nats.ErrNoResponders) {
		// Nobody answers the JetStream API: ask for the account's JetStream once, which
		// tells a server (or account) without JetStream from one that is restarting.
		if _, aerr := js.AccountInfo(ctx); aerr != nil && jsNotEnabled(aerr) {
			err = aerr
		}
	}
	if err != nil {
		var api *jetstream.APIError
		if jsNotEnabled(err) {
			return answered, &ConfigError{Kind: ErrMissing, Msg: fmt.Sprintf("JetStream is not enabled on %s (or for this account): enable it on the server, or for the account", t.server)}
		}
		if errors.As(err, &api) && api.Code >= 400 && api.Code < 500 {
			kind := ErrMissing
			if api.Code == 401 || api.Code == 403 {
				kind = ErrAuth
			}
			return answered, &ConfigError{Kind: kind, Msg: fmt.Sprintf("JetStream stream %q on %s: %s", t.stream, t.server, t.redact.scrub(api.Error()))}
		}
		return t.classify(ctx, err)
	}
	cfg := s.CachedInfo().Config
	if !captures(cfg.Subjects, t.subject) {
		return answered, &ConfigError{Kind: ErrMissing, Msg: fmt.Sprintf(
			"JetStream stream %q on %s does not take subject %q (its subjects: %s): add the subject to the stream, or publish on one of its subjects",
			t.stream, t.server, t.subject, strings.Join(cfg.Subjects, ", "))}
	}
	if cfg.Duplicates < t.window {
		t.log.Warn("the JetStream stream's duplicate window is too short for exactly-once: re-sent events older than it are stored again; make it longer",
			"stream", t.stream, "duplicate_window", cfg.Duplicates.String(), "needed", t.window.String())
	}
	return delivered, nil
}

// captures reports whether one of a stream's subjects (with wild cards) matches subject.
func captures(filters []string, subject string) bool {
	for _, f := range filters {
		if subjectMatches(f, subject) {
			return true
		}
	}
	return false
}

func subjectMatches(filter, subject string) bool {
	ft, st := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, f := range ft {
		switch {
		case f == ">":
			return len(st) > i
		case i >= len(st):
			return false
		case f != "*" && f != st[i]:
			return false
		}
	}
	return len(ft) == len(st)
}

func (t *natsTransport) send(ctx context.Context, e event.Event) (outcome, error) {
	var body bytes.Buffer
	header, err := cejs.WriteMsg(ctx, encodeBinary(&e, t.binary, natsCodec), &body)
	if err != nil {
		return invalid, asEncodingError("NATS", err)
	}
	js, o, err := t.conn(ctx)
	if err != nil {
		return o, err
	}
	if header == nil { // structured mode: the body is the event
		header = nats.Header{}
	}
	msg := &nats.Msg{Subject: t.subject, Header: header, Data: body.Bytes()}
	actx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	if _, err := js.PublishMsg(actx, msg, jetstream.WithMsgID(e.ID()), jetstream.WithExpectStream(t.stream)); err != nil {
		return t.classify(ctx, err)
	}
	return delivered, nil // a PubAck: stored, or a duplicate of an event the stream has
}

// classify turns a failed connect or publish into the sender's kinds.
func (t *natsTransport) classify(ctx context.Context, err error) (outcome, error) {
	if ctx.Err() != nil {
		return aborted, ctx.Err()
	}
	if cfg := t.redact.brokerTLSError(err, "NATS server", t.withCA, "nats.ca_file names the CAs of a private server"); cfg != nil {
		return answered, cfg
	}
	if cfg := t.redact.unknownHost(err, "NATS server"); cfg != nil {
		return answered, cfg
	}
	msg := t.redact.scrub(err.Error())
	var api *jetstream.APIError
	switch {
	case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired), errors.Is(err, nats.ErrAuthRevoked),
		errors.Is(err, nats.ErrAccountAuthExpired):
		return answered, &ConfigError{Kind: ErrAuth, Err: err, Msg: fmt.Sprintf("the NATS server %s refused the credentials (%s): %s; check them", t.server, t.creds, msg)}
	case errors.Is(err, nats.ErrPermissionViolation):
		return answered, &ConfigError{Kind: ErrAuth, Err: err, Msg: fmt.Sprintf("the NATS server %s does not let these credentials (%s) publish on %q: %s", t.server, t.creds, t.subject, msg)}
	case errors.Is(err, nats.ErrSecureConnRequired):
		return answered, &ConfigError{Kind: ErrTLS, Err: err, Msg: fmt.Sprintf("the NATS server %s requires TLS: use tls:// in v_target (nats.ca_file for a private CA)", t.server)}
	case errors.Is(err, nats.ErrSecureConnWanted):
		return answered, &ConfigError{Kind: ErrTLS, Err: err, Msg: fmt.Sprintf("the NATS server %s does not offer TLS: use nats:// in v_target without nats.ca_file", t.server)}
	case errors.As(err, &api) && api.ErrorCode == jetstream.JSErrCodeStreamNotFound,
		errors.As(err, &api) && api.ErrorCode == 10060: // the subject went to another stream than nats.stream
		return answered, &ConfigError{Kind: ErrMissing, Err: err, Msg: fmt.Sprintf("JetStream on %s did not store subject %q in stream %q: %s", t.server, t.subject, t.stream, msg)}
	case errors.As(err, &api) && api.Code >= 400 && api.Code < 500:
		return answered, &Rejected{Status: int(api.ErrorCode), Reason: msg}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return outage, fmt.Errorf("undelivered: no acknowledgement from %s within %s", t.server, t.timeout)
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders):
		return outage, fmt.Errorf("undelivered: no JetStream stream answered on %s for subject %q (a server restarting, or the stream deleted)", t.server, t.subject)
	}
	return outage, fmt.Errorf("undelivered: %s: %s", t.server, msg)
}

// close ends the set-up in flight and closes the connection: nats.go flushes what it
// buffered, for at most natsCloseGrace, then its sockets are closed under it.
func (t *natsTransport) close() error {
	t.mu.Lock()
	t.closed = true
	nc := t.nc
	t.mu.Unlock()
	t.end()
	t.dialer.abort()
	if nc == nil {
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		nc.Close()
	}()
	grace := time.NewTimer(natsCloseGrace)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
		t.dialer.closeAll()
		<-done
	}
	return nil
}

// checkCredsFile reads a NATS creds file once at start: a file that holds no user JWT and
// NKey seed is a configuration error (exit 2), not an outage. Its contents never reach a
// message: only the file's name.
func checkCredsFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return &config.Error{Key: "nats.creds_file", Problem: fmt.Sprintf("cannot read %s", path)}
	}
	defer wipe(b)
	if _, err := jwt.ParseDecoratedJWT(b); err != nil {
		return &config.Error{Key: "nats.creds_file", Problem: fmt.Sprintf("%s holds no user JWT (a .creds file from nsc or the account's operator)", path)}
	}
	if _, err := nkeys.ParseDecoratedNKey(b); err != nil {
		return &config.Error{Key: "nats.creds_file", Problem: fmt.Sprintf("%s holds no NKey seed (a .creds file from nsc or the account's operator)", path)}
	}
	return nil
}

// checkCAFile reads a CA bundle once at start: it must hold at least one PEM certificate.
func checkCAFile(key, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return &config.Error{Key: key, Problem: fmt.Sprintf("cannot read %s", path)}
	}
	if !x509.NewCertPool().AppendCertsFromPEM(b) {
		return &config.Error{Key: key, Problem: fmt.Sprintf("%s holds no PEM certificate", path)}
	}
	return nil
}

func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}
