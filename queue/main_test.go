package queue

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a fake time that tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// quiet is a logger that drops everything.
var quiet = slog.New(slog.DiscardHandler)

// open opens a queue in a new directory, closed when the test ends.
func open(t testing.TB, opts *Options) *Queue {
	t.Helper()
	return openDir(t, filepath.Join(t.TempDir(), "q"), opts)
}

// openDir opens the queue in dir, closed when the test ends.
func openDir(t testing.TB, dir string, opts *Options) *Queue {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	q, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// run runs q with r until the test ends (or stop is called), and waits for
// Run to return.
func run(t testing.TB, q *Queue, r Runner) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx, r) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// add commits a message with the given actions, one recipient each.
func add(t testing.TB, q *Queue, body string, actions ...string) string {
	t.Helper()
	var ds []Delivery
	for _, a := range actions {
		ds = append(ds, Delivery{Action: a, Rcpt: []string{a + "@example.com"}})
	}
	env := &Envelope{ID: "smtp1", From: "a@example.org", Rcpt: []string{"me@example.com"}}
	id, err := q.Add(context.Background(), env, ds, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	return id
}

// names lists the files in dir.
func names(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n []string
	for _, e := range ents {
		n = append(n, e.Name())
	}
	return n
}

// call is one try that a runner saw.
type call struct {
	id, attempt string
	number      int
	final       bool
	body        string
	ctxErr      func() error
	reply       chan error // what Run returns
}

// chanRunner hands each try to the test, through next, and returns what
// the test then passes to reply: replies go to the tries in the order next
// handed them out, whatever order the queue runs them in.
type chanRunner struct {
	calls  chan call
	mu     sync.Mutex
	handed []chan error // replies of the tries handed out, not yet given
}

func newChanRunner() *chanRunner {
	return &chanRunner{calls: make(chan call, 100)}
}

func (c *chanRunner) Run(ctx context.Context, m *Message, a *Attempt) error {
	b, err := io.ReadAll(m.Body)
	if err != nil {
		return err
	}
	reply := make(chan error, 1)
	c.calls <- call{id: m.ID, attempt: a.ID, number: a.Number, final: a.Final, body: string(b), ctxErr: ctx.Err, reply: reply}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// next waits for the next try.
func (c *chanRunner) next(t testing.TB) call {
	t.Helper()
	select {
	case cl := <-c.calls:
		c.mu.Lock()
		c.handed = append(c.handed, cl.reply)
		c.mu.Unlock()
		return cl
	case <-time.After(10 * time.Second):
		t.Fatal("no try started within 10s")
		return call{}
	}
}

// reply ends the oldest try that next handed out and that has no reply
// yet, with err.
func (c *chanRunner) reply(err error) {
	c.mu.Lock()
	r := c.handed[0]
	c.handed = c.handed[1:]
	c.mu.Unlock()
	r <- err
}

// settled returns a function that waits until n more jobs of q ended.
func settled(q *Queue) func(t testing.TB, n int) {
	ch := make(chan struct{}, 1000)
	q.jobDone = func() { ch <- struct{}{} }
	return func(t testing.TB, n int) {
		t.Helper()
		for range n {
			select {
			case <-ch:
			case <-time.After(10 * time.Second):
				t.Fatal("no job ended within 10s")
			}
		}
	}
}
