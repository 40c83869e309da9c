package queuetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ownmx/ownmx/queue"
)

// timeout bounds every wait of the suite for something a queue should do.
const timeout = 20 * time.Second

// clock is a fake time that the suite moves by hand, for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

// newClock returns a clock at a fixed time.
func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

// Now returns the clock's time.
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Add moves the clock d ahead.
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// quiet is a logger that drops everything.
var quiet = slog.New(slog.DiscardHandler)

// env is the envelope of the suite's messages.
func env() *queue.Envelope {
	return &queue.Envelope{
		ID: "smtp-1", From: "alice@example.org", Rcpt: []string{"bob@example.com", "carol@example.com"},
		ClientIP: "192.0.2.1", Helo: "mx.example.org", TLS: &queue.TLS{Version: "TLS 1.3", Cipher: "TLS_AES_128_GCM_SHA256"},
	}
}

// deliveries returns one delivery per action, each for one recipient.
func deliveries(actions ...string) []queue.Delivery {
	var ds []queue.Delivery
	for _, a := range actions {
		ds = append(ds, queue.Delivery{Action: a, Rcpt: []string{a + "@example.com"}})
	}
	return ds
}

// add commits a message with the given actions.
func add(t *testing.T, q Q, body string, actions ...string) string {
	t.Helper()
	id, err := q.Add(t.Context(), env(), deliveries(actions...), bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	return id
}

// start runs q with r until the test ends or stop is called; stop waits
// for Run to return.
func start(t *testing.T, q Q, r queue.Runner) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx, r) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(timeout):
				t.Errorf("Run did not return within %v of its context's end", timeout)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// try is one try that the runner saw, waiting for the test's answer.
type try struct {
	msg     *queue.Message
	attempt queue.Attempt
	body    []byte
	ctx     context.Context
	reply   chan error
}

// runner hands each try to the test and returns what the test answers
// (or the context's error, once the try's context ends).
type runner struct{ tries chan *try }

func newRunner() *runner { return &runner{tries: make(chan *try, 1000)} }

func (r *runner) Run(ctx context.Context, m *queue.Message, a *queue.Attempt) error {
	body, err := io.ReadAll(m.Body)
	if err != nil {
		return fmt.Errorf("reading the message: %w", err)
	}
	tr := &try{msg: m, attempt: *a, body: body, ctx: ctx, reply: make(chan error, 1)}
	r.tries <- tr
	select {
	case err := <-tr.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// next waits for the next try.
func (r *runner) next(t *testing.T) *try {
	t.Helper()
	select {
	case tr := <-r.tries:
		return tr
	case <-time.After(timeout):
		t.Fatalf("no try started within %v", timeout)
		return nil
	}
}

// none checks that no try is waiting for an answer.
func (r *runner) none(t *testing.T) {
	t.Helper()
	select {
	case tr := <-r.tries:
		t.Errorf("unexpected try %s (try %d)", tr.attempt.ID, tr.attempt.Number)
	default:
	}
}

// waitFor waits until cond, which reads the queue through its Admin, is
// true; the queue records a try's result after the Runner returned, and
// the Admin is how a user sees it. It fails the test after timeout.
func waitFor(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not %s within %v", what, timeout)
		}
		<-tick.C
	}
}

// find returns the message id among infos.
func find(infos []queue.Info, id string) (queue.Info, bool) {
	for _, in := range infos {
		if in.ID == id {
			return in, true
		}
	}
	return queue.Info{}, false
}

// waiting waits until the waiting message id satisfies cond, and returns
// its description.
func waiting(t *testing.T, q Q, id, what string, cond func(queue.Info) bool) queue.Info {
	t.Helper()
	var got queue.Info
	waitFor(t, id+" "+what, func() (bool, error) {
		infos, err := q.List(t.Context())
		if err != nil {
			return false, err
		}
		in, ok := find(infos, id)
		if ok && cond(in) {
			got = in
			return true, nil
		}
		return false, nil
	})
	return got
}

// dead waits until the message id is a dead letter, and returns its
// description.
func dead(t *testing.T, q Q, id string) queue.Info {
	t.Helper()
	var got queue.Info
	waitFor(t, id+" in the dead letters", func() (bool, error) {
		infos, err := q.Dead(t.Context())
		if err != nil {
			return false, err
		}
		in, ok := find(infos, id)
		got = in
		return ok, nil
	})
	return got
}

// empty waits until the queue holds no waiting message.
func empty(t *testing.T, q Q) {
	t.Helper()
	waitFor(t, "the queue empty", func() (bool, error) {
		infos, err := q.List(t.Context())
		return len(infos) == 0, err
	})
}

// noDead checks that there are no dead letters.
func noDead(t *testing.T, q Q) {
	t.Helper()
	infos, err := q.Dead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 0 {
		t.Errorf("dead letters: %+v", infos)
	}
}
