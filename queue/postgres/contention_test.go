package postgres

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ownmx/ownmx/internal/pgtest"
	"github.com/ownmx/ownmx/queue"
)

// TestContention runs 10,000 deliveries with two Queues on one database,
// as two processes would (each with its own pool, listener and two
// workers), while ten writers add them through both: each delivery is
// done exactly once (none twice, none missing), and every message leaves
// the queue. It logs the time taken and how the Queues shared the work.
func TestContention(t *testing.T) {
	const (
		jobs    = 10_000
		writers = 10
		limit   = 5 * time.Minute
	)
	url := pgtest.Shared(t)
	var (
		mu    sync.Mutex
		tries = make(map[string]int, jobs)
		byQ   [2]atomic.Int64
		all   = make(chan struct{})
	)
	runner := func(k int) queue.Runner {
		return queue.RunnerFunc(func(ctx context.Context, m *queue.Message, a *queue.Attempt) error {
			byQ[k].Add(1)
			mu.Lock()
			defer mu.Unlock()
			tries[a.ID]++
			if len(tries) == jobs && tries[a.ID] == 1 {
				close(all)
			}
			return nil
		})
	}
	var qs [2]*Queue
	for k := range qs {
		qs[k] = open(t, url, &Options{Options: queue.Options{Workers: 2}, Name: fmt.Sprintf("q%d", k)})
		run(t, qs[k], runner(k))
	}

	start := time.Now()
	ids := make(chan string, jobs)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			q := qs[w%2]
			for next.Add(1) <= jobs {
				id, err := q.Add(t.Context(), &queue.Envelope{From: "a@example.org"}, []queue.Delivery{{Action: "inbox"}}, strings.NewReader("Subject: x\r\n\r\nx\r\n"))
				if err != nil {
					t.Error(err)
					return
				}
				ids <- id
			}
		})
	}
	wg.Wait()
	added := time.Since(start)
	close(ids)
	select {
	case <-all:
	case <-time.After(limit):
		mu.Lock()
		n := len(tries)
		mu.Unlock()
		t.Fatalf("%d of %d deliveries ran within %v", n, jobs, limit)
	}
	ran := time.Since(start)
	// Every result is recorded (each message removed) before the queue
	// is empty.
	deadline := time.Now().Add(limit)
	for {
		var n int
		if err := qs[0].pool.QueryRow(t.Context(), `SELECT count(*) FROM ownmx_queue_message`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages still queued %v after the last try started", n, limit)
		}
		time.Sleep(10 * time.Millisecond) // polling a count, bounded by deadline
	}
	drained := time.Since(start)

	mu.Lock()
	defer mu.Unlock()
	n := 0
	for id := range ids {
		n++
		if c := tries[id+".0"]; c != 1 {
			t.Errorf("%s.0 ran %d times", id, c)
		}
	}
	if n != jobs || len(tries) != jobs {
		t.Errorf("%d messages added, %d attempts ran; want %d of each", n, len(tries), jobs)
	}
	for k := range byQ {
		if byQ[k].Load() == 0 {
			t.Errorf("queue %d ran no delivery", k)
		}
	}
	t.Logf("%d deliveries: added by %d writers in %v (%.0f/s); all run in %v, all recorded in %v (%.0f/s); queue 0 ran %d, queue 1 ran %d",
		jobs, writers, added.Round(time.Millisecond), jobs/added.Seconds(), ran.Round(time.Millisecond), drained.Round(time.Millisecond), jobs/drained.Seconds(), byQ[0].Load(), byQ[1].Load())
}
