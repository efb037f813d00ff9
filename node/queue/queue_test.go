package queue

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gate is a Runner whose items block until released, recording start order and the
// most that ran at once.
type gate struct {
	mu       sync.Mutex
	order    []string
	release  map[string]chan struct{}
	running  atomic.Int32
	peak     atomic.Int32
	canceled sync.Map
}

func newGate() *gate { return &gate{release: map[string]chan struct{}{}} }

func (g *gate) ch(key string) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.release[key] == nil {
		g.release[key] = make(chan struct{})
	}
	return g.release[key]
}

func (g *gate) run(ctx context.Context, item Item) {
	n := g.running.Add(1)
	defer g.running.Add(-1)
	for {
		if p := g.peak.Load(); n <= p || g.peak.CompareAndSwap(p, n) {
			break
		}
	}
	g.mu.Lock()
	g.order = append(g.order, item.Key)
	g.mu.Unlock()
	select {
	case <-g.ch(item.Key):
	case <-ctx.Done():
		g.canceled.Store(item.Key, true)
	}
}

func (g *gate) started() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.order...)
}

func TestPriorityOrderAndConcurrencyLimit(t *testing.T) {
	g := newGate()
	q := New(2, g.run)
	base := time.Now()
	// Added before the dispatcher runs, so order is decided by priority alone.
	q.Add(Item{Key: "low-old", Priority: 0, Created: base})
	q.Add(Item{Key: "high", Priority: 10, Created: base.Add(time.Second)})
	q.Add(Item{Key: "low-new", Priority: 0, Created: base.Add(2 * time.Second)})
	q.Add(Item{Key: "mid", Priority: 5, Created: base.Add(3 * time.Second)})
	q.Add(Item{Key: "high", Priority: 10}) // a duplicate is ignored

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = q.Start(ctx) }()

	require.Eventually(t, func() bool { return len(g.started()) == 2 }, 5*time.Second, time.Millisecond)
	assert.ElementsMatch(t, []string{"high", "mid"}, g.started())
	assert.Equal(t, 2, q.Running())
	assert.Equal(t, 2, q.Depth())

	close(g.ch("high"))
	require.Eventually(t, func() bool { return len(g.started()) == 3 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, "low-old", g.started()[2], "equal priority: the older item first")
	close(g.ch("mid"))
	close(g.ch("low-old"))
	close(g.ch("low-new"))
	require.Eventually(t, func() bool { return q.Running() == 0 && q.Depth() == 0 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, int32(2), g.peak.Load(), "never more than the concurrency limit")
	assert.False(t, q.Has("high"), "a finished item can be added again")
	cancel()
	<-done
}

func TestCancelWaitingAndRunningItems(t *testing.T) {
	g := newGate()
	q := New(1, g.run)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = q.Start(ctx) }()

	q.Add(Item{Key: "a"})
	require.Eventually(t, func() bool { return q.Running() == 1 }, 5*time.Second, time.Millisecond)
	q.Add(Item{Key: "b"})
	assert.True(t, q.Cancel("b"), "a waiting item is removed")
	assert.False(t, q.Has("b"))
	assert.True(t, q.Cancel("a"), "a running item's context is canceled")
	require.Eventually(t, func() bool { _, ok := g.canceled.Load("a"); return ok }, 5*time.Second, time.Millisecond)
	assert.False(t, q.Cancel("nope"))
	cancel()
	<-done
	assert.Equal(t, []string{"a"}, g.started(), "b never ran")
}

func TestStopCancelsRunningItemsAndWaits(t *testing.T) {
	g := newGate()
	q := New(3, g.run)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = q.Start(ctx) }()
	for i := 0; i < 3; i++ {
		q.Add(Item{Key: fmt.Sprint(i)})
	}
	require.Eventually(t, func() bool { return q.Running() == 3 }, 5*time.Second, time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Start did not return after its context ended")
	}
	assert.Equal(t, int32(0), g.running.Load(), "Start returns only after every runner returned")
	for i := 0; i < 3; i++ {
		_, ok := g.canceled.Load(fmt.Sprint(i))
		assert.True(t, ok)
	}
}
