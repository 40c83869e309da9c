package postgres

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ownmx/ownmx/internal/pgtest"
	"github.com/ownmx/ownmx/queue"
)

func TestMain(m *testing.M) {
	if url := os.Getenv(contentionURL); url != "" {
		os.Exit(contentionWorker(url, os.Getenv(contentionName)))
	}
	goleak.VerifyTestMain(pgtest.Main(m))
}

// quiet is a logger that drops everything.
var quiet = slog.New(slog.DiscardHandler)

// testPoll is how often the tests' queues look for due deliveries: often,
// so that a test that moves its fake clock does not wait long.
const testPoll = 20 * time.Millisecond

// open opens the queue in the database at url with opts (Logger and Poll
// set for tests when left at zero), closed when the test ends.
func open(t testing.TB, url string, opts *Options) *Queue {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	if opts.Poll == 0 {
		opts.Poll = testPoll
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q, err := Open(ctx, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// run runs q with r until the test ends or stop is called; stop waits for
// Run to return.
func run(t testing.TB, q *Queue, r queue.Runner) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx, r) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Run did not return within 30s of its context's end")
		}
	}
	t.Cleanup(stop)
	return stop
}
