package budget

import (
	"context"
	"testing"
)

// waiter runs Acquire on a goroutine and says when it returned.
type waiter struct {
	name string
	done chan error
}

// acquire starts an Acquire and returns once the request waits in the budget's lines
// (told by onWait), so that the order of requests is the test's.
func acquire(t *testing.T, b *Budget, waits chan struct{}, ctx context.Context, account string, events int, bytes int64) *waiter {
	t.Helper()
	w := &waiter{name: account, done: make(chan error, 1)}
	go func() { w.done <- b.Acquire(ctx, account, events, bytes) }()
	<-waits
	return w
}

func newBudget(o Options) (*Budget, chan struct{}) {
	b := New(o)
	waits := make(chan struct{}, 16)
	b.onWait = func() { waits <- struct{}{} }
	return b, waits
}

// granter starts Acquires on goroutines; each says its name on got when granted.
type granter struct {
	t     *testing.T
	b     *Budget
	waits chan struct{}
	got   chan string
}

// ask starts an Acquire of one account and returns once it waits in the budget's lines
// (onWait), so that the order of requests is the test's.
func (g *granter) ask(name, account string, events int) {
	go func() {
		if err := g.b.Acquire(context.Background(), account, events, 0); err == nil {
			g.got <- name
		}
	}()
	<-g.waits
}

// next releases events and checks that the one request it grants is want's.
func (g *granter) next(events int, want string) {
	g.t.Helper()
	g.b.Release(events, 0)
	if got := <-g.got; got != want {
		g.t.Fatalf("granted %s, want %s", got, want)
	}
}

func newGranter(t *testing.T, o Options) *granter {
	b, waits := newBudget(o)
	return &granter{t: t, b: b, waits: waits, got: make(chan string, 16)}
}

// A big account that keeps the budget full and has more pages waiting does not starve a
// small one that asks after it: each release serves the next account in turn, so the
// small account's page goes before the big account's second waiting page.
func TestSmallAccountServedWhileBigHoldsBudget(t *testing.T) {
	g := newGranter(t, Options{Events: 600, Bytes: 1 << 20})
	if err := g.b.Acquire(context.Background(), "big", 600, 0); err != nil { // big holds the whole budget
		t.Fatal(err)
	}
	g.ask("big1", "big", 300)
	g.ask("big2", "big", 300)
	g.ask("big3", "big", 300)
	g.ask("small", "small", 300)
	g.next(300, "big1")  // one page of big delivered: big's turn
	g.next(300, "small") // the next room goes to small, not to big's next page
	g.next(300, "big2")
	g.next(300, "big3")
	if e, _, w := g.b.Taken(); e != 600 || w != 0 {
		t.Fatalf("taken %d events, %d waiting; want 600 and 0", e, w)
	}
}

// Many small accounts each get their turn before the big one's second request.
func TestRoundRobinOverManyAccounts(t *testing.T) {
	g := newGranter(t, Options{Events: 10})
	if err := g.b.Acquire(context.Background(), "big", 10, 0); err != nil {
		t.Fatal(err)
	}
	g.ask("big1", "big", 10)
	g.ask("big2", "big", 10)
	for _, n := range []string{"a", "b", "c"} {
		g.ask(n, n, 10)
	}
	for _, want := range []string{"big1", "a", "b", "c", "big2"} {
		g.next(10, want)
	}
}

// Bytes bound the budget as events do; room grown past the bound (Resize) admits nothing
// until it is back under.
func TestBytesBound(t *testing.T) {
	b, waits := newBudget(Options{Events: 1000, Bytes: 1000})
	ctx := context.Background()
	if err := b.Acquire(ctx, "a", 1, 600); err != nil {
		t.Fatal(err)
	}
	b.Resize(1, 600, 1, 1500) // the page weighed more than guessed
	w := acquire(t, b, waits, ctx, "b", 1, 100)
	b.Release(1, 600) // 900 taken: 100 more fits
	if err := <-w.done; err != nil {
		t.Fatal(err)
	}
	if got := b.Estimate(2); got != 3000 {
		t.Fatalf("Estimate(2) = %d, want 3000 (1500 a measured event)", got)
	}
}

// A request larger than the whole budget waits for everything to be given back, then goes.
func TestOversizedRequest(t *testing.T) {
	b, waits := newBudget(Options{Events: 10})
	ctx := context.Background()
	if err := b.Acquire(ctx, "a", 5, 0); err != nil {
		t.Fatal(err)
	}
	w := acquire(t, b, waits, ctx, "b", 50, 0)
	b.Release(5, 0)
	if err := <-w.done; err != nil {
		t.Fatal(err)
	}
}

// A request given up on (its context ended) takes nothing and no longer holds the turn of
// the requests behind it.
func TestCancelledRequestTakesNothing(t *testing.T) {
	b, waits := newBudget(Options{Events: 10})
	if err := b.Acquire(context.Background(), "a", 10, 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	big := acquire(t, b, waits, ctx, "b", 10, 0)
	small := acquire(t, b, waits, context.Background(), "c", 1, 0)
	cancel()
	if err := <-big.done; err == nil {
		t.Fatal("a cancelled request was granted")
	}
	b.Release(5, 0)
	if err := <-small.done; err != nil {
		t.Fatal(err)
	}
	if e, _, w := b.Taken(); e != 6 || w != 0 {
		t.Fatalf("taken %d, waiting %d; want 6 and 0", e, w)
	}
}

// Taking nothing never waits: a day with nothing left to send (a FOCUS day with no row
// held back) is not held up behind the accounts that wait for room.
func TestAcquire_NothingIsGrantedAtOnceWhileOthersWait(t *testing.T) {
	b, waits := newBudget(Options{Events: 2})
	if err := b.Acquire(context.Background(), "other", 2, 0); err != nil {
		t.Fatal(err)
	}
	big := acquire(t, b, waits, context.Background(), "big", 2, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // it must not need to wait at all
	if err := b.Acquire(ctx, "small", 0, 0); err != nil {
		t.Fatalf("taking nothing waited behind big: %v", err)
	}
	b.Release(2, 0)
	if err := <-big.done; err != nil {
		t.Fatal(err)
	}
	b.Release(2, 0)
	if e, n, w := b.Taken(); e != 0 || n != 0 || w != 0 {
		t.Fatalf("%d events, %d bytes taken, %d waiting; want none", e, n, w)
	}
}
