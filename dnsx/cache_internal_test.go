package dnsx

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// blockingQuerier answers after release is closed, counting its questions.
type blockingQuerier struct {
	release chan struct{}
	asked   atomic.Int32
}

func (q *blockingQuerier) Query(ctx context.Context, name string, qtype uint16) (Answer, error) {
	q.asked.Add(1)
	select {
	case <-q.release:
		return Answer{TTL: 0}, nil // not kept: only the collapsing saves questions
	case <-ctx.Done():
		return Answer{}, failure(name, "", ctx.Err())
	}
}

// waiters reports how many callers wait on the flight for name and qtype.
func (c *Cache) waiters(name string, qtype uint16) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.flights[cacheKey{dns.CanonicalName(name), qtype}]; ok {
		return f.waiters
	}
	return -1
}

// Concurrent identical questions are asked once and share the answer.
func TestCacheCollapses(t *testing.T) {
	q := &blockingQuerier{release: make(chan struct{})}
	c := NewCache(q, 0)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := c.Query(t.Context(), "example.com", dns.TypeTXT)
			errs <- err
		})
	}
	// Release the answer once every caller but the asker waits for it.
	for i := 0; c.waiters("example.com", dns.TypeTXT) != n-1; i++ {
		if i > 1e7 {
			t.Fatalf("callers never all waited: %d", c.waiters("example.com", dns.TypeTXT))
		}
		runtime.Gosched()
	}
	close(q.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := q.asked.Load(); got != 1 {
		t.Errorf("%d questions asked, want 1", got)
	}
}

// When the caller asking gives up, the others ask for themselves rather
// than take its cancellation as their answer.
func TestCacheCollapseAskerCancelled(t *testing.T) {
	q := &blockingQuerier{release: make(chan struct{})}
	c := NewCache(q, 0)
	ctx, cancel := context.WithCancel(t.Context())
	first := make(chan error, 1)
	go func() {
		_, err := c.Query(ctx, "example.com", dns.TypeTXT)
		first <- err
	}()
	for i := 0; c.waiters("example.com", dns.TypeTXT) != 0; i++ {
		if i > 1e7 {
			t.Fatal("first caller never asked")
		}
		runtime.Gosched()
	}
	second := make(chan error, 1)
	go func() {
		_, err := c.Query(t.Context(), "example.com", dns.TypeTXT)
		second <- err
	}()
	for i := 0; c.waiters("example.com", dns.TypeTXT) != 1; i++ {
		if i > 1e7 {
			t.Fatal("second caller never waited")
		}
		runtime.Gosched()
	}
	cancel()
	if err := <-first; !IsTemporary(err) {
		t.Errorf("cancelled caller: err %v, want temporary", err)
	}
	close(q.release)
	if err := <-second; err != nil {
		t.Errorf("second caller: %v, want its own answer", err)
	}
	if got := q.asked.Load(); got != 2 {
		t.Errorf("%d questions asked, want 2", got)
	}
}
