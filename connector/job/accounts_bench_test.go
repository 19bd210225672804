package job_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/cloudbill/alicloud-billing-source/connector/billing"
	"github.com/cloudbill/alicloud-billing-source/connector/budget"
	"github.com/cloudbill/alicloud-billing-source/connector/clock"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/connector/sender"
	"github.com/cloudbill/alicloud-billing-source/connector/state"
	"github.com/cloudbill/alicloud-billing-source/testing/sink"
)

// instant answers every event at once, delivered, 16 at a time.
type instant struct{}

func (instant) Stream(_ context.Context, events <-chan event.Event, result func(string, error)) {
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for e := range events {
				result(e.ID(), nil)
			}
		})
	}
	wg.Wait()
}

// BenchmarkAccounts runs one day of rows for each of n accounts at once, each with its own
// state file, through one budget, from an API without pace: to a receiver that answers at
// once (instant: what the job, the budget and the state cost) and through the sender to a
// loopback sink (http: as the connector runs). It reports events per second.
//
//	go test ./connector/job -run XXX -bench Accounts -benchtime 2x
func BenchmarkAccounts(b *testing.B) {
	k := sink.New()
	k.KeepNothing()
	if err := k.Start("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	defer k.Close()
	target, err := url.Parse(k.URL())
	if err != nil {
		b.Fatal(err)
	}
	s, err := sender.New(sender.Params{Options: sender.Options{Target: target, Concurrency: 16}, Clock: clock.New(),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range []struct {
		name string
		pub  job.Publisher
	}{{"instant", instant{}}, {"http", s}} {
		for _, c := range []struct{ accounts, rows int }{{1, 6000}, {20, 300}, {100, 60}} {
			b.Run(fmt.Sprintf("%s/%dx%d", p.name, c.accounts, c.rows), func(b *testing.B) {
				for b.Loop() {
					b.StopTimer()
					jobs := accountJobs(b, c.accounts, manyRows(c.rows), p.pub)
					b.StartTimer()
					runAll(b, jobs, c.rows)
				}
				b.ReportMetric(float64(c.accounts*c.rows)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

// accountJobs are n accounts' jobs, each with its own state, sharing one budget.
func accountJobs(b *testing.B, n int, rows []billing.Row, p job.Publisher) []*job.Job {
	dir := b.TempDir()
	bud := budget.New(budget.Options{})
	jobs := make([]*job.Job, n)
	for i := range jobs {
		st, err := state.Open(filepath.Join(dir, fmt.Sprintf("state.%d.db", i)), false)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = st.Close() })
		jobs[i] = job.New(job.Params{Options: job.Options{Account: fmt.Sprintf("a%d", i)},
			Fetcher: fetcher{rows: rows, pageSize: job.PageRows}, Publisher: p, State: st,
			Clock: clock.New(), Logger: slog.New(slog.DiscardHandler), Budget: bud})
	}
	return jobs
}

// runAll runs the day of every job at once.
func runAll(b *testing.B, jobs []*job.Job, rows int) {
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Go(func() {
			if rep, err := j.Run(context.Background(), day, job.Explicit); err != nil || rep.Delivered != rows {
				b.Errorf("delivered %d of %d: %v", rep.Delivered, rows, err)
			}
		})
	}
	wg.Wait()
}
