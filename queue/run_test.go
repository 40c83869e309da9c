package queue

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Add wakes a running queue: the first try starts at once, not at the next
// poll (which this test puts an hour away).
func TestAddWakesRun(t *testing.T) {
	q := open(t, nil)
	q.poll = time.Hour
	r := newChanRunner()
	passes := make(chan struct{}, 1)
	q.pass = func() {
		select {
		case passes <- struct{}{}:
		default:
		}
	}
	run(t, q, r)
	<-passes // Run has looked at the empty schedule and waits
	id := add(t, q, "hello", "a")
	c := r.next(t)
	if c.id != id || c.attempt != id+".0" || c.number != 1 || c.body != "hello" {
		t.Errorf("try = %+v", c)
	}
	r.reply(nil)
}

// A done delivery never runs again; the message leaves the queue once all
// its deliveries are done, and a failing one is tried again alone.
func TestDoneNeverRunsAgain(t *testing.T) {
	c := newClock()
	q := open(t, &Options{Now: c.Now})
	wait := settled(q)
	r := newChanRunner()
	run(t, q, r)
	id := add(t, q, "x", "a", "b")
	got := map[string]bool{}
	for range 2 {
		cl := r.next(t)
		got[cl.attempt] = true
		if strings.HasSuffix(cl.attempt, ".0") {
			r.reply(nil)
		} else {
			r.reply(errors.New("503 busy"))
		}
	}
	wait(t, 1)
	if !got[id+".0"] || !got[id+".1"] {
		t.Fatalf("tries %v", got)
	}
	c.Add(DefaultMaxBackoff)
	q.wake()
	cl := r.next(t)
	if cl.attempt != id+".1" || cl.number != 2 {
		t.Fatalf("second round tried %s (try %d), want %s.1 (try 2)", cl.attempt, cl.number, id)
	}
	r.reply(nil)
	wait(t, 1)
	if n := names(t, filepath.Join(q.root, queueDir)); len(n) != 0 {
		t.Errorf("queue/ holds %v after every delivery is done", n)
	}
	if q.sched.len() != 0 {
		t.Errorf("schedule holds %d messages", q.sched.len())
	}
}

// stateOf reads the state of delivery i of message id in queue/.
func stateOf(t *testing.T, q *Queue, id string, i int) deliveryState {
	t.Helper()
	st, err := readState(filepath.Join(q.root, queueDir), id)
	if err != nil || st == nil {
		t.Fatalf("state of %s: %v, %v", id, st, err)
	}
	return st.Deliveries[i]
}

// A failed delivery waits MinBackoff, doubled at each failure, plus up to
// a quarter of jitter, never more than MaxBackoff; it is not tried before
// then; RetryAfter asks for more and gets it.
func TestBackoff(t *testing.T) {
	c := newClock()
	const minB, maxB = time.Minute, 10 * time.Minute
	q := open(t, &Options{Now: c.Now, MinBackoff: minB, MaxBackoff: maxB})
	wait := settled(q)
	passes := make(chan struct{}, 1)
	q.pass = func() {
		select {
		case passes <- struct{}{}:
		default:
		}
	}
	r := newChanRunner()
	run(t, q, r)
	id := add(t, q, "x", "a")
	steps := []struct {
		err    error
		lo, hi time.Duration
	}{
		{errors.New("e1"), minB, minB * 5 / 4},
		{errors.New("e2"), 2 * minB, 2 * minB * 5 / 4},
		{errors.New("e3"), 4 * minB, 4 * minB * 5 / 4},
		{RetryAfter(errors.New("e4"), 30*time.Minute), 30 * time.Minute, 30 * time.Minute},
		{errors.New("e5"), 8 * minB, maxB},
		{errors.New("e6"), maxB, maxB},
		{errors.New("e7"), maxB, maxB},
	}
	for n, s := range steps {
		cl := r.next(t)
		if cl.number != n+1 {
			t.Fatalf("try %d has Number %d", n+1, cl.number)
		}
		tried := c.Now()
		r.reply(s.err)
		wait(t, 1)
		d := stateOf(t, q, id, 0)
		if got := d.Next.Sub(tried); got < s.lo || got > s.hi {
			t.Errorf("after failure %d (%v) the next try is in %v, want [%v, %v]", n+1, s.err, got, s.lo, s.hi)
		}
		if d.Tries != n+1 || d.Error != s.err.Error() {
			t.Errorf("after failure %d: tries %d, error %q", n+1, d.Tries, d.Error)
		}
		// Just before the next try is due, nothing runs: wait for a
		// whole look at the schedule that began after the clock moved.
		c.Set(d.Next.Add(-time.Nanosecond))
		select {
		case <-passes:
		default:
		}
		for range 2 {
			q.wake()
			<-passes
		}
		select {
		case cl := <-r.calls:
			t.Fatalf("try %d ran before its time", cl.number)
		default:
		}
		c.Set(d.Next)
		q.wake()
	}
	r.next(t)
	r.reply(nil)
}

// A delivery goes dead, and its message to the dead letters with the
// reason, after a Permanent error at once, or once its next try would
// come after the lifetime; done deliveries of the message stay done.
func TestDead(t *testing.T) {
	cases := []struct {
		name   string
		errs   []error
		reason string
	}{
		{"permanent", []error{Permanent(errors.New("410 gone"))}, "410 gone"},
		{"permanent wrapped", []error{fmt.Errorf("post: %w", Permanent(errors.New("410 gone")))}, "post: 410 gone"},
		{"lifetime", []error{errors.New("e1"), errors.New("e2"), errors.New("e3"), errors.New("timeout")}, "gave up after 4 tries, the lifetime of 10m0s having passed: timeout"},
		{"retry-after past the lifetime", []error{RetryAfter(errors.New("503"), time.Hour)}, "gave up after 1 tries, the lifetime of 10m0s having passed: 503 (retry after 1h0m0s)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			// Backoffs of 1, 2, 4 minutes, then 8 from minute 7 passes 10.
			q := open(t, &Options{Now: c.Now, MinBackoff: time.Minute, MaxBackoff: 8 * time.Minute, Lifetime: 10 * time.Minute})
			wait := settled(q)
			r := newChanRunner()
			run(t, q, r)
			id := add(t, q, "x", "ok", "bad")
			for n, err := range tc.errs {
				for range map[bool]int{true: 2, false: 1}[n == 0] {
					cl := r.next(t)
					if cl.attempt == id+".0" {
						r.reply(nil)
						continue
					}
					// Only the 4th try, at minute 7, is told it is the
					// last: its next would come at minute 15.
					if want := n == 3; cl.final != want {
						t.Errorf("try %d: Final %v, want %v", cl.number, cl.final, want)
					}
					r.reply(err)
				}
				wait(t, 1)
				if n < len(tc.errs)-1 {
					c.Set(stateOf(t, q, id, 1).Next)
					q.wake()
				}
			}
			dead, err := q.Admin().Dead()
			if err != nil {
				t.Fatal(err)
			}
			if len(dead) != 1 || dead[0].ID != id {
				t.Fatalf("dead letters %+v, want %s", dead, id)
			}
			ds := dead[0].Deliveries
			if ds[0].State != Done || ds[1].State != Dead || ds[1].Error != tc.reason || ds[1].Tries != len(tc.errs) {
				t.Errorf("deliveries %+v, want done and dead with %q", ds, tc.reason)
			}
			if waiting, _ := q.Admin().List(); len(waiting) != 0 {
				t.Errorf("still waiting: %+v", waiting)
			}
		})
	}
}

// A wait whose random part would carry the next try past the lifetime
// brings it at the lifetime's end instead, and that try is told it is the
// last: no delivery goes dead on a try that was not Final. With a
// lifetime of 9 minutes and waits of 8 to 10, the jitter passes the end
// about half the time: of 20 messages, some do.
func TestFinalTryAtTheEnd(t *testing.T) {
	c := newClock()
	q := open(t, &Options{Now: c.Now, MinBackoff: 8 * time.Minute, MaxBackoff: 10 * time.Minute, Lifetime: 9 * time.Minute})
	wait := settled(q)
	r := newChanRunner()
	run(t, q, r)
	const n = 20
	for range n {
		add(t, q, "x", "a")
	}
	for range n {
		if cl := r.next(t); cl.final {
			t.Fatalf("first try of %s told it is final", cl.id)
		}
		r.reply(errors.New("451"))
	}
	wait(t, n)
	waiting, err := q.Admin().List()
	if err != nil || len(waiting) != n {
		t.Fatalf("waiting after one failure each: %d, %v; want %d", len(waiting), err, n)
	}
	var last time.Time
	for _, m := range waiting {
		d, end := m.Deliveries[0], m.Since.Add(9*time.Minute)
		if d.State != Pending || d.Next.After(end) {
			t.Fatalf("%s after one failure: %+v; want pending, next no later than %v", m.ID, d, end)
		}
		if end.After(last) {
			last = end
		}
	}
	c.Set(last)
	q.wake()
	for range n {
		cl := r.next(t)
		if !cl.final {
			t.Errorf("try %d of %s at the lifetime's end not told it is final", cl.number, cl.id)
		}
		r.reply(errors.New("451"))
	}
	wait(t, n)
	if dead, _ := q.Admin().Dead(); len(dead) != n {
		t.Errorf("%d dead letters, want %d", len(dead), n)
	}
}

// When Run's context ends, the tries in flight are cancelled, Run returns
// once they have, and a cancelled try does not count: the next Run tries
// again with the same Attempt.ID and Number.
func TestShutdownCancelsTries(t *testing.T) {
	c := newClock()
	dir := filepath.Join(t.TempDir(), "q")
	q := openDir(t, dir, &Options{Now: c.Now})
	r := newChanRunner()
	stop := run(t, q, r)
	id := add(t, q, "x", "a")
	cl := r.next(t)
	stop() // returns only once the try returned
	if cl.ctxErr() == nil {
		t.Fatal("the try's context was not cancelled")
	}
	if st, _ := readState(filepath.Join(dir, queueDir), id); st != nil {
		t.Errorf("a cancelled try was recorded: %+v", st)
	}
	q.Close()

	q = openDir(t, dir, &Options{Now: c.Now})
	run(t, q, r)
	cl = r.next(t)
	if cl.attempt != id+".0" || cl.number != 1 {
		t.Errorf("after restart: %s try %d, want %s.0 try 1", cl.attempt, cl.number, id)
	}
	r.reply(nil)
}

// A panicking runner fails its try; the queue goes on.
func TestRunnerPanic(t *testing.T) {
	q := open(t, &Options{MinBackoff: time.Hour})
	wait := settled(q)
	run(t, q, RunnerFunc(func(ctx context.Context, m *Message, a *Attempt) error { panic("boom") }))
	id := add(t, q, "x", "a")
	wait(t, 1)
	if d := stateOf(t, q, id, 0); d.Tries != 1 || !strings.Contains(d.Error, "boom") {
		t.Errorf("state after a panic: %+v", d)
	}
}

// A done record is flushed before the queue counts it as durable: an
// fsync of queue/ starts after the message is gone (its last delivery
// done) or its state file says done (another still pending).
func TestDoneRecordFlushed(t *testing.T) {
	for _, deliveries := range [][]string{{"a"}, {"a", "later"}} {
		t.Run(strings.Join(deliveries, ","), func(t *testing.T) { testDoneRecordFlushed(t, deliveries) })
	}
}

func testDoneRecordFlushed(t *testing.T, actions []string) {
	q := open(t, nil)
	wait := settled(q)
	var mu sync.Mutex
	flushedDone := false
	q.queueSync.fsync = func(dir string) error {
		mu.Lock()
		defer mu.Unlock()
		var msgs []string
		for _, n := range names(t, dir) {
			if !strings.HasSuffix(n, stateExt) {
				msgs = append(msgs, n)
			}
		}
		if len(msgs) == 0 {
			flushedDone = true // the message is gone: done
		} else if st, _ := readState(dir, msgs[0]); st != nil && st.Deliveries[0].State == Done {
			flushedDone = true
		}
		return syncDir(dir)
	}
	durable := make(chan bool, 1)
	q.durable = func(string) {
		mu.Lock()
		durable <- flushedDone
		mu.Unlock()
	}
	run(t, q, RunnerFunc(func(ctx context.Context, m *Message, a *Attempt) error {
		if a.Action == "later" {
			return RetryAfter(errors.New("not now"), time.Hour)
		}
		return nil
	}))
	add(t, q, "x", actions...)
	wait(t, 1)
	if !<-durable {
		t.Error("the done record was not flushed before the queue went on")
	}
}
