package faults

import (
	"strconv"
	"sync"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/job"
	"github.com/cloudbill/alicloud-billing-source/connector/reconcile"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
	"github.com/cloudbill/alicloud-billing-source/testing/sink"
)

// closeWorld is a month two months before today (its bill final by the real clock, which
// a child process runs on), with rows on four of its days, delivered day by day; then its
// final bill revised on each of those days: 10 rows changed, 5 vanished, 3 billed late.
type closeWorld struct {
	e     *harness.Env
	sink  *sink.Sink // the close's receiver, which can hold its answers (see hold)
	gate  *gate
	month calendar.Month
	days  []calendar.Day
	cfg   string
	// What the close must send, by subject: true for a retraction.
	want      map[string]bool
	delivered []event.Event // what the sink got day by day, before it was reset
}

// gate holds the receiver's answers: once hold says so for an event the sink has
// recorded, its answer (and every later one) waits until release. The connector then
// cannot finish, nor learn that the held events were delivered: a kill lands there.
type gate struct {
	changed *harness.Signal
	hold    func(ev event.Event, n int) bool // n: the events recorded so far, ev included

	mu      sync.Mutex
	n       int
	holding bool
	release chan struct{}
}

func (g *gate) receive(ev event.Event) {
	g.mu.Lock()
	g.n++
	if g.hold != nil && !g.holding && g.hold(ev, g.n) {
		g.holding = true
	}
	held, release := g.holding, g.release
	g.mu.Unlock()
	g.changed.Notify()
	if held {
		<-release
	}
}

// arm starts counting from 0 and holding by hold.
func (g *gate) arm(hold func(ev event.Event, n int) bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n, g.hold, g.holding, g.release = 0, hold, false, make(chan struct{})
}

// open answers what is held and holds nothing more.
func (g *gate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.hold != nil {
		close(g.release)
	}
	g.hold, g.holding = nil, false
}

func (g *gate) held() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.holding
}

func newCloseWorld(t *testing.T) *closeWorld {
	t.Helper()
	e := harness.New(t)
	k := sink.New()
	g := &gate{changed: e.Changed}
	k.OnReceive(g.receive) // before Start: no request can race it
	require.NoError(t, k.Start("127.0.0.1:0"))
	t.Cleanup(k.Close)
	t.Cleanup(g.open) // runs first: nothing held when the sink closes
	m := calendar.MonthOf(calendar.Of(e.Clock.Now().UTC())).Prev().Prev()
	w := &closeWorld{e: e, sink: k, gate: g, month: m, want: map[string]bool{},
		days: []calendar.Day{m.First(), m.First().AddDays(1), m.First().AddDays(9), m.Last()},
		cfg:  e.Config(t, map[string]any{"api_qps": 100, "send_concurrency": 2, "v_target": k.URL()})}
	for i, d := range w.days {
		e.API.SetDay(d.String(), bssfake.SampleDay(d.String(), 60, uint64(40+i)))
	}
	r := e.Run(t, []string{"--config", w.cfg, "--from", m.First().String(), "--to", m.Last().String()})
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Len(t, harness.IDs(k.Events()), 240)
	for _, got := range k.Events() {
		w.delivered = append(w.delivered, got.Event)
	}
	k.Reset()
	for i, d := range w.days {
		day := d.String()
		e.API.Revise(day, func(rows []bssfake.Item) []bssfake.Item {
			for j := range 10 {
				rows[j].PretaxAmount, rows[j].PaymentAmount = "1.2345", "1.2345"
				w.want[job.Subject(rows[j], rows[j].Identity())] = false
			}
			for _, gone := range rows[10:15] {
				w.want[job.Subject(gone, gone.Identity())] = true
			}
			rows = append(rows[:10], rows[15:]...)
			late := bssfake.SampleDay(day, 63, uint64(90+i))[60:]
			for j := range late {
				late[j].OwnerID = "99999999999999" + strconv.Itoa(j)
				w.want[job.Subject(late[j], late[j].Identity())] = false
			}
			return append(rows, late...)
		})
	}
	require.Len(t, w.want, 4*18)
	return w
}

func (w *closeWorld) args() []string {
	return []string{"--config", w.cfg, "--close-month", w.month.String()}
}

// closeEvents splits the sink's events: the month_closed events' ids, and the other
// events' distinct ids by subject (the content of an id checked the same every time).
func closeEvents(t *testing.T, got []sink.Received) (closed map[string]int, rows map[string]map[string]bool) {
	t.Helper()
	closed, rows = map[string]int{}, map[string]map[string]bool{}
	content := map[string]string{}
	for _, r := range got {
		ev := r.Event
		if c, ok := content[ev.ID()]; ok {
			require.Equal(t, c, string(ev.Data()), "id %s reused for other content", ev.ID())
		}
		content[ev.ID()] = string(ev.Data())
		if ev.Type() == reconcile.EventType {
			closed[ev.ID()]++
			continue
		}
		if rows[ev.Subject()] == nil {
			rows[ev.Subject()] = map[string]bool{}
		}
		rows[ev.Subject()][ev.ID()] = true
	}
	return closed, rows
}

// Issue 18, "Done when": kill -9 in the middle of a close, then --close-month again: every
// event of the close arrives, each subject's revision or retraction under one id only (the
// crash's are sent again as they were), one month_closed id; the state says the month is
// closed and consistent: a third close sends the same month_closed event and nothing else.
// The kill points are events at the receiver, whose answers are held from there on (the
// connector cannot finish, nor record them delivered): the first event of the close, the
// 30th (of 72), the first retraction, and the month_closed event (planned in the state, not recorded delivered).
func TestFaults_KilledInTheMiddleOfAMonthCloseAndClosedAgain(t *testing.T) {
	points := []struct {
		name string
		hold func(ev event.Event, n int) bool
	}{
		{"the first event", func(_ event.Event, n int) bool { return n >= 1 }},
		{"the 30th event", func(_ event.Event, n int) bool { return n >= 30 }},
		{"the first retraction", func(ev event.Event, _ int) bool {
			_, retracted := ev.Extensions()[job.RetractedExtension]
			return retracted
		}},
		{"the month_closed event", func(ev event.Event, _ int) bool { return ev.Type() == reconcile.EventType }},
	}
	for _, pt := range points {
		t.Run(pt.name, func(t *testing.T) {
			w := newCloseWorld(t)
			e := w.e
			w.gate.arm(pt.hold)
			p := e.StartProc(t, w.args()...)
			e.Changed.Wait(t, "the kill point", p.Out, func() bool { return p.Exited() || w.gate.held() })
			require.False(t, p.Exited(), "the close ended before the kill:\n%s", harness.Tail(p.Out.String(), 3000))
			p.Kill(t, e)
			w.gate.open()
			closed, rows := closeEvents(t, w.sink.Events())
			require.LessOrEqual(t, len(closed), 1)
			if len(closed) == 0 {
				require.Less(t, len(rows), len(w.want), "killed before every event of the close")
			}

			p = e.StartProc(t, w.args()...)
			require.Equal(t, 0, p.Wait(t, e), harness.Tail(p.Out.String(), 3000))
			closed, rows = closeEvents(t, w.sink.Events())
			assert.Len(t, closed, 1, "one month_closed id: %v", closed)
			assert.Len(t, rows, len(w.want), "every subject the final bill changed, and only those")
			var received []event.Event
			for _, got := range w.sink.Events() {
				if got.Event.Type() == reconcile.EventType {
					continue
				}
				ev := got.Event
				retraction, ok := w.want[ev.Subject()]
				assert.True(t, ok, "an event of the close for a subject the bill did not change: %s", ev.Subject())
				assert.Len(t, rows[ev.Subject()], 1, "one id for %s", ev.Subject())
				assert.Equal(t, retraction, harness.Retracted(t, ev), ev.Subject())
				received = append(received, ev)
			}
			var final []bssfake.Item
			for _, d := range w.days {
				final = append(final, e.API.Day(d.String())...)
			}
			assert.Equal(t, harness.ItemSums(t, final), harness.LatestSums(t, append(w.delivered, received...)),
				"the rows a receiver keeps sum to the final bill")
			checkState(t, e, w.days)

			// A third close: the month is closed with the same figures: the same event, or nothing.
			w.sink.Reset()
			r := e.Run(t, w.args())
			require.Equal(t, 0, r.Code, r.Stderr)
			again, againRows := closeEvents(t, w.sink.Events())
			assert.Empty(t, againRows, "nothing of the close is sent again")
			for id := range again {
				_, same := closed[id]
				assert.True(t, same, "the same month_closed id, not %s", id)
			}
			t.Logf("FAULT close killed at %s: %d events of the close, %d month_closed id", pt.name, len(rows), len(closed))
		})
	}
}
