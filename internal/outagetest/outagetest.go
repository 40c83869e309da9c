// Package outagetest drives a burst of senders across an outage of a
// server they depend on (a database, say), for tests: it sends until some
// messages are accepted, stops the server, keeps sending while it is down,
// restarts it, and sends until some messages sent after the restart are
// accepted. Each message's result says in which phases it was sent, so
// that a test can tell what was answered while the server was down.
package outagetest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Phase is a time of the burst.
type Phase int32

// The phases of a burst.
const (
	// Before: the server runs.
	Before Phase = iota
	// Down: Stop has returned and Restart has not been called.
	Down
	// After: Restart has been called.
	After
)

// Result is what became of one message.
type Result struct {
	// Client and N say which client sent it and its number there.
	Client, N int
	// ID is the message's name, as Send returned it.
	ID string
	// Start and End are the phases in which its sending began and ended:
	// both Down means it was sent while the server was down.
	Start, End Phase
	// Err is Send's error; nil means the message was accepted.
	Err error
}

// WhileDown reports whether the message was sent while the server was
// down, from start to end.
func (r Result) WhileDown() bool { return r.Start == Down && r.End == Down }

// Burst says how to run one.
type Burst struct {
	// Clients is the number of senders, each on a goroutine of its own.
	Clients int
	// PerClient bounds the messages a client sends.
	PerClient int
	// Before is how many messages must be accepted before Stop is called,
	// and After how many messages sent after Restart, before the burst
	// ends.
	Before, After int
	// Downtime is how long the server stays down.
	Downtime time.Duration
	// Stop stops the server, and Restart starts it again; both are
	// called on the test's goroutine and may call t.Fatal.
	Stop, Restart func()
	// Send sends message n of client c and returns its name, and nil
	// when it was accepted. It runs on the client's goroutine: it must
	// not call t.Fatal. After a failure the client pauses 20 ms, as a
	// sender retrying later.
	Send func(c, n int) (id string, err error)
}

// Run runs the burst and returns the result of every message sent. It
// fails the test when Before or After messages are not accepted within a
// minute each.
func (b Burst) Run(t testing.TB) []Result {
	t.Helper()
	var (
		phase   atomic.Int32
		mu      sync.Mutex
		results []Result
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	acked := [...]chan struct{}{make(chan struct{}, b.Clients*b.PerClient), make(chan struct{}, b.Clients*b.PerClient)}
	for c := range b.Clients {
		wg.Go(func() {
			retry := time.NewTicker(20 * time.Millisecond)
			defer retry.Stop()
			for n := range b.PerClient {
				select {
				case <-stop:
					return
				default:
				}
				r := Result{Client: c, N: n, Start: Phase(phase.Load())}
				r.ID, r.Err = b.Send(c, n)
				r.End = Phase(phase.Load())
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
				switch {
				case r.Err == nil && r.Start == After:
					acked[1] <- struct{}{}
				case r.Err == nil:
					acked[0] <- struct{}{}
				default:
					select {
					case <-stop:
						return
					case <-retry.C:
					}
				}
			}
		})
	}
	halt := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
	})
	defer halt()
	wait := func(acks chan struct{}, n int, what string) {
		t.Helper()
		deadline := time.After(time.Minute)
		for range n {
			select {
			case <-acks:
			case <-deadline:
				t.Fatalf("outagetest: no %d messages accepted %s within a minute", n, what)
			}
		}
	}
	wait(acked[0], b.Before, "before the stop")
	b.Stop()
	phase.Store(int32(Down))
	<-time.After(b.Downtime) // the length of the outage, not a synchronisation
	phase.Store(int32(After))
	b.Restart()
	wait(acked[1], b.After, "after the restart")
	halt()
	mu.Lock()
	defer mu.Unlock()
	return results
}
