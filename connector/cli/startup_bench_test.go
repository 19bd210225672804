package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/fx"

	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/clock"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
)

// startupConfig writes a config of n accounts, each with its own AccessKey, whose API and
// receiver are a closed port (nothing answers: start-up alone is measured).
func startupConfig(b *testing.B, n int) config.Source {
	b.Helper()
	dir := b.TempDir()
	accounts := make([]map[string]string, n)
	for i := range accounts {
		accounts[i] = map[string]string{"name": fmt.Sprintf("a%05d", i), "access_key_id": fmt.Sprintf("LTAI%05d", i),
			"secret_access_Key": fmt.Sprintf("secret-%05d", i)}
	}
	body, err := json.Marshal(map[string]any{"v_target": "http://127.0.0.1:9/", "endpoint": "http://127.0.0.1:9",
		"state_path": filepath.Join(dir, "state.db"), "listen": "", "accounts": accounts})
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		b.Fatal(err)
	}
	return config.Source{Path: path, Lookup: func(string) (string, bool) { return "", false }}
}

// BenchmarkStartup is where the start of a process of 1, 100 and 1,000 accounts goes: the
// configuration read and checked, the BSS clients made (billing.Factory.For), the whole
// fx graph built (clients, jobs, closers, schedulers: fx.New), and its start (the state
// files opened, the runner started: fx.Start). Start-up is fx.New plus fx.Start.
//
//	go test ./connector/cli -run XXX -bench Startup -benchtime 3x
func BenchmarkStartup(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		src := startupConfig(b, n)
		b.Run(fmt.Sprintf("accounts=%d/config.Load", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := config.Load(src); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("accounts=%d/billing.For", n), func(b *testing.B) {
			cfg, err := config.Load(src)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				f := billing.NewFactory(billing.Params{Options: billing.Options{Endpoint: cfg.Endpoint, APIQPS: cfg.APIQPS},
					Clock: clock.New(), Logger: slog.New(slog.DiscardHandler)})
				for _, a := range cfg.Accounts {
					if _, err := f.For(a); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
		b.Run(fmt.Sprintf("accounts=%d/fx.New", n), func(b *testing.B) {
			for b.Loop() {
				if err := newApp(src).Err(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("accounts=%d/fx.Start", n), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				app := newApp(src)
				b.StartTimer()
				if err := app.Start(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := app.Stop(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// newApp is the daemon's application, as Main builds it.
func newApp(src config.Source) *fx.App {
	return fx.New(Options(src, IO{Stdout: io.Discard, Stderr: io.Discard}, Mode{}, false, &exitCode{}), fx.NopLogger)
}
