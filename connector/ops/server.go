package ops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/config"
)

// Health is the process's readiness: started (the config was loaded and the state files
// are open), and no account's last API call refused for its credentials.
type Health struct {
	started atomic.Bool
	mu      sync.Mutex
	refused map[string]string // account -> why the API refused its credentials
}

// Started marks the process ready to work.
func (h *Health) Started() { h.started.Store(true) }

// CredentialsRefused records that the API refused the account's credentials (why: one
// line, no secret), or, with "", that it accepted them.
func (h *Health) CredentialsRefused(account, why string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if why == "" {
		delete(h.refused, account)
		return
	}
	if h.refused == nil {
		h.refused = map[string]string{}
	}
	h.refused[account] = why
}

// Ready returns "" when ready, else why not (one line).
func (h *Health) Ready() string {
	if !h.started.Load() {
		return "starting: the config or the state file is not ready yet"
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.refused) == 0 {
		return ""
	}
	names := make([]string, 0, len(h.refused))
	for a := range h.refused {
		names = append(names, a)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, a := range names {
		parts[i] = "account " + a + ": " + h.refused[a]
	}
	return "the API refused the credentials of " + strings.Join(parts, "; ")
}

// Server is the ops listener.
type Server struct {
	srv *http.Server
	ln  net.Listener
	log *slog.Logger
}

// Addr is where the listener listens (nil when listen is "").
func (s *Server) Addr() net.Addr {
	if s == nil || s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Handler serves /healthz, /readyz and /metrics.
func Handler(m *Metrics, h *Health) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if why := h.Ready(); why != "" {
			http.Error(w, why, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	return mux
}

// Options are the ops listener's configuration.
type Options struct {
	Listen string // listen: host:port, "" for no listener
	Name   string // what set Listen, named in its error: "listen" (the config key; also "") or "--listen" (the flag)
}

// Params are the inputs of NewServer.
type Params struct {
	fx.In
	Lifecycle fx.Lifecycle
	Options   Options
	Metrics   *Metrics
	Health    *Health
	Logger    *slog.Logger
}

// NewServer listens on listen when the application starts (nothing when listen is "")
// and stops when it stops. A port taken is an error at start, naming it.
func NewServer(p Params) *Server {
	s := &Server{log: p.Logger}
	if p.Options.Listen == "" {
		return s
	}
	s.srv = &http.Server{Handler: Handler(p.Metrics, p.Health), ReadHeaderTimeout: 10 * time.Second}
	p.Lifecycle.Append(fx.Hook{
		OnStart: func(context.Context) error {
			ln, err := net.Listen("tcp", p.Options.Listen)
			if err != nil {
				return listenError(p.Options, err)
			}
			s.ln = ln
			go func() {
				if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					s.log.Error("ops listener stopped", "error", err.Error())
				}
			}()
			s.log.Info("ops listener", "listen", ln.Addr().String(), "paths", "/healthz /readyz /metrics")
			return nil
		},
		OnStop: func(ctx context.Context) error { return s.srv.Shutdown(ctx) },
	})
	return s
}

// listenError is an address the listener cannot take (a port in use, an address not of
// this host), naming what set it: the config key listen, or the flag.
func listenError(o Options, err error) error {
	problem := fmt.Sprintf("cannot listen on %q: %s", o.Listen, err)
	if strings.HasPrefix(o.Name, "--") {
		return &flagError{o.Name + ": " + problem}
	}
	return &config.Error{Key: "listen", Problem: problem}
}

// flagError is a command-line flag whose value cannot work: fix the command line (exit
// status 2).
type flagError struct{ msg string }

func (e *flagError) Error() string        { return e.msg }
func (e *flagError) NeedsConfigFix() bool { return true }

// Module provides the *Metrics, the *Health and the *Server.
var Module = fx.Module("ops",
	fx.Provide(NewMetrics, func() *Health { return &Health{} }, NewServer),
	fx.Invoke(func(*Server) {}),
)
