package sender_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx/fxtest"

	"github.com/cloudbill/alicloud-billing-source/connector/sender"
)

// On stop the sender closes its kept-alive connections: a process (or a test) that runs
// the connector again and again does not collect sockets and their goroutines.
func TestSender_StopClosesKeptAliveConnections(t *testing.T) {
	closed := make(chan struct{}, 16)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed {
			closed <- struct{}{}
		}
	}
	srv.Start()
	defer srv.Close()
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	lc := fxtest.NewLifecycle(t)
	s, err := sender.New(sender.Params{Options: sender.Options{Target: u, Concurrency: 1},
		Clock: clockwork.NewRealClock(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Lifecycle: lc})
	require.NoError(t, err)
	lc.RequireStart()
	require.Empty(t, s.Send(context.Background(), events(3), nil))
	select {
	case <-closed:
		t.Fatal("the connection closed before the stop")
	default:
	}
	lc.RequireStop()
	timeout := time.NewTimer(90 * time.Second)
	defer timeout.Stop()
	select {
	case <-closed:
	case <-timeout.C:
		t.Fatal("the kept-alive connection was not closed on stop")
	}
}
