// Package queue is the agent's work queue: items wait in priority order (higher
// priority first, then the oldest) and at most a fixed number run at once, so a node
// never spends more than its share on backups however many items it is given.
package queue

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// Item is one unit of work. Key identifies it: adding a key that is waiting or
// running again does nothing.
type Item struct {
	Key      string
	Priority int32
	// Created orders items of equal priority: older first.
	Created time.Time
}

// Runner does the work of one item; it is canceled through ctx.
type Runner func(ctx context.Context, item Item)

// Queue runs items with bounded concurrency in priority order.
type Queue struct {
	mu      sync.Mutex
	waiting itemHeap
	queued  map[string]bool // waiting or running
	running map[string]context.CancelFunc
	slots   int
	run     Runner
	wake    chan struct{}
	wg      sync.WaitGroup
}

// New returns a queue that runs at most concurrency items at once.
func New(concurrency int, run Runner) *Queue {
	if concurrency < 1 {
		concurrency = 1
	}
	return &Queue{
		queued:  map[string]bool{},
		running: map[string]context.CancelFunc{},
		slots:   concurrency,
		run:     run,
		wake:    make(chan struct{}, 1),
	}
}

// Add queues an item unless it is already waiting or running.
func (q *Queue) Add(item Item) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.queued[item.Key] {
		return
	}
	q.queued[item.Key] = true
	heap.Push(&q.waiting, item)
	q.signal()
}

// Cancel removes a waiting item, or cancels a running one's context. It reports
// whether the item was known.
func (q *Queue) Cancel(key string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if cancel, ok := q.running[key]; ok {
		cancel()
		return true
	}
	for i, it := range q.waiting {
		if it.Key == key {
			heap.Remove(&q.waiting, i)
			delete(q.queued, key)
			return true
		}
	}
	return false
}

// Has reports whether an item is waiting or running.
func (q *Queue) Has(key string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.queued[key]
}

// Depth is the number of waiting items; Running the number of running ones.
func (q *Queue) Depth() int   { q.mu.Lock(); defer q.mu.Unlock(); return len(q.waiting) }
func (q *Queue) Running() int { q.mu.Lock(); defer q.mu.Unlock(); return len(q.running) }

// Start dispatches items until ctx ends, then cancels the running ones and waits for
// them to return.
func (q *Queue) Start(ctx context.Context) error {
	for {
		q.dispatch(ctx)
		select {
		case <-ctx.Done():
			q.mu.Lock()
			for _, cancel := range q.running {
				cancel()
			}
			q.mu.Unlock()
			q.wg.Wait()
			return nil
		case <-q.wake:
		}
	}
}

// dispatch starts waiting items while slots are free.
func (q *Queue) dispatch(ctx context.Context) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.running) < q.slots && len(q.waiting) > 0 {
		item := heap.Pop(&q.waiting).(Item)
		itemCtx, cancel := context.WithCancel(ctx)
		q.running[item.Key] = cancel
		q.wg.Add(1)
		go func() {
			defer q.wg.Done()
			defer q.finish(item.Key, cancel)
			q.run(itemCtx, item)
		}()
	}
}

func (q *Queue) finish(key string, cancel context.CancelFunc) {
	cancel()
	q.mu.Lock()
	delete(q.running, key)
	delete(q.queued, key)
	q.signal()
	q.mu.Unlock()
}

// signal wakes the dispatcher without blocking.
func (q *Queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// itemHeap orders by priority (high first), then creation (old first), then key.
type itemHeap []Item

func (h itemHeap) Len() int { return len(h) }
func (h itemHeap) Less(i, j int) bool {
	if h[i].Priority != h[j].Priority {
		return h[i].Priority > h[j].Priority
	}
	if !h[i].Created.Equal(h[j].Created) {
		return h[i].Created.Before(h[j].Created)
	}
	return h[i].Key < h[j].Key
}
func (h itemHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *itemHeap) Push(x any)   { *h = append(*h, x.(Item)) }
func (h *itemHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}
