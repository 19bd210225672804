package sender

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
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
// is checked (or created) once, before the first publish.
type natsTransport struct {
	server    string // scheme://host:port, no user
	opts      []nats.Option
	subject   string
	stream    string
	binary    bool // binary content mode, else structured
	create    bool
	window    time.Duration // the duplicate window exactly-once needs
	timeout   time.Duration
	creds     string // the config keys of the credentials, for messages
	withCA    bool
	redact    redactor
	log       *slog.Logger
	mu        sync.Mutex
	nc        *nats.Conn
	js        jetstream.JetStream
	ready     bool // the stream was found or created, and it takes the subject
	closed    bool
	connected chan struct{} // closed on the first connection (tests, logs)
}

func newNATS(cfg *config.Config, pol Policy, red redactor, log *slog.Logger) (*natsTransport, error) {
	n := cfg.NATS
	u := url.URL{Scheme: cfg.Target.Scheme, Host: cfg.Target.Host}
	t := &natsTransport{server: u.String(), subject: n.Subject, stream: n.Stream, binary: !cfg.Structured, create: n.CreateStream,
		window: cfg.DuplicateWindow(), timeout: pol.Timeout, creds: "no credentials", withCA: n.CAFile != "",
		redact: red, log: log}
	t.opts = []nats.Option{
		nats.Name("alicloud-billing-source"),
		nats.Timeout(min(pol.Timeout, 10*time.Second)), // the connection's handshake
		nats.MaxReconnects(-1),                         // once connected, nats.go reconnects for good
		nats.ReconnectWait(500 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("NATS connection lost, reconnecting", "server", t.server, "error", red.scrub(err.Error()))
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { log.Info("NATS connection restored", "server", t.server) }),
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

// conn connects and checks the stream, once; later calls return the kept connection.
func (t *natsTransport) conn(ctx context.Context) (jetstream.JetStream, outcome, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, aborted, errors.New("the sender is closed")
	}
	if t.nc != nil && t.nc.IsClosed() { // nats.go gave up (credentials refused on a reconnect)
		t.nc, t.js, t.ready = nil, nil, false
	}
	if t.nc == nil {
		nc, err := nats.Connect(t.server, t.opts...)
		if err != nil {
			o, err := t.classify(ctx, err)
			return nil, o, err
		}
		js, err := jetstream.New(nc)
		if err != nil {
			nc.Close()
			return nil, outage, fmt.Errorf("JetStream on %s: %s", t.server, t.redact.scrub(err.Error()))
		}
		t.nc, t.js = nc, js
		t.log.Debug("connected to NATS", "server", t.server)
	}
	if !t.ready {
		if o, err := t.ensureStream(ctx); err != nil {
			return nil, o, err
		}
		t.ready = true
	}
	return t.js, delivered, nil
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

// ensureStream finds the stream, or creates it when nats.create_stream says so, and checks
// that it takes the subject and remembers ids long enough.
func (t *natsTransport) ensureStream(ctx context.Context) (outcome, error) {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	s, err := t.js.Stream(ctx, t.stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if !t.create {
			return answered, &ConfigError{Kind: ErrMissing, Msg: fmt.Sprintf(
				"JetStream stream %q does not exist on %s: create it with subject %q and a duplicate window of at least %s (settle_days+1 days), or set nats.create_stream to true",
				t.stream, t.server, t.subject, t.window)}
		}
		s, err = t.js.CreateStream(ctx, jetstream.StreamConfig{Name: t.stream, Subjects: []string{t.subject},
			Storage: jetstream.FileStorage, Duplicates: t.window,
			Description: "CloudEvents of alicloud-billing-source; Nats-Msg-Id is the event id"})
		if err == nil {
			t.log.Info("created the JetStream stream", "stream", t.stream, "subject", t.subject, "duplicate_window", t.window.String())
		}
	}
	if err != nil && errors.Is(err, nats.ErrNoResponders) {
		// Nobody answers the JetStream API: ask for the account's JetStream once, which
		// tells a server (or account) without JetStream from one that is restarting.
		if _, aerr := t.js.AccountInfo(ctx); aerr != nil && jsNotEnabled(aerr) {
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

// close closes the connection; nats.go flushes what it buffered.
func (t *natsTransport) close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	if t.nc != nil {
		t.nc.Close()
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
