package queuetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ownmx/ownmx/queue"
)

// Run checks the queue that open returns against the contract of package
// queue. open must return a new, empty queue with the given options (to
// which it may add its own), not running; the suite runs it and closes it.
// The options carry a fake clock (Now), which the suite moves to make
// retries due: a queue must look at its schedule again, by itself, within
// a few seconds of real time.
func Run(t *testing.T, open func(t *testing.T, opts *queue.Options) Q) {
	cases := []struct {
		name string
		fn   func(t *testing.T, open func(*queue.Options) (Q, *clock))
	}{
		{"AddRunDone", testAddRunDone},
		{"Backoff", testBackoff},
		{"RetryAfter", testRetryAfter},
		{"Permanent", testPermanent},
		{"Lifetime", testLifetime},
		{"Replay", testReplay},
		{"Retry", testRetry},
		{"Delete", testDelete},
		{"ConcurrentAdds", testConcurrentAdds},
		{"CutOff", testCutOff},
		{"RunningAndClosed", testRunningAndClosed},
		{"Observer", testObserver},
		{"Count", testCount},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, func(o *queue.Options) (Q, *clock) {
				clock := newClock()
				if o == nil {
					o = &queue.Options{}
				}
				o.Now, o.Logger = clock.Now, quiet
				q := open(t, o)
				t.Cleanup(func() {
					if err := q.Close(); err != nil {
						t.Errorf("Close: %v", err)
					}
				})
				return q, clock
			})
		})
	}
}

// A committed message's deliveries each run once, with the message as it
// was given (its envelope, its body byte for byte: here one of several
// chunks of 64 KiB), under Attempt.IDs "<id>.<i>"; the message then
// leaves the queue.
func testAddRunDone(t *testing.T, open func(*queue.Options) (Q, *clock)) {
	q, clock := open(nil)
	body := make([]byte, 200<<10+17)
	rand.Read(body)
	e := env()
	id, err := q.Add(t.Context(), e, deliveries("inbox", "webhook"), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Add(t.Context(), e, nil, bytes.NewReader(body)); err == nil {
		t.Error("Add with no delivery succeeded")
	}
	infos, err := q.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	in, ok := find(infos, id)
	switch {
	case !ok || len(infos) != 1:
		t.Fatalf("List = %+v, want %s alone", infos, id)
	case in.Size != int64(len(body)) || in.From != e.From || !reflect.DeepEqual(in.Rcpt, e.Rcpt) || !in.Received.Equal(clock.Now()) || !in.Since.Equal(clock.Now()):
		t.Errorf("List = %+v", in)
	case len(in.Deliveries) != 2 || in.Deliveries[1].AttemptID != id+".1" || in.Deliveries[1].State != queue.Pending || in.Deliveries[1].Action != "webhook":
		t.Errorf("List deliveries = %+v", in.Deliveries)
	}

	r := newRunner()
	start(t, q, r)
	seen := map[string]bool{}
	for range 2 {
		tr := r.next(t)
		seen[tr.attempt.ID] = true
		want := e
		want.Received = clock.Now()
		switch {
		case tr.msg.ID != id:
			t.Errorf("Message.ID = %q, want %q", tr.msg.ID, id)
		case !bytes.Equal(tr.body, body):
			t.Errorf("the body read back differs (%d bytes, want %d)", len(tr.body), len(body))
		case !reflect.DeepEqual(&tr.msg.Envelope, want):
			t.Errorf("Envelope = %+v, want %+v", tr.msg.Envelope, *want)
		case tr.attempt.Number != 1 || tr.attempt.Final:
			t.Errorf("Attempt = %+v, want Number 1, not Final", tr.attempt)
		case !reflect.DeepEqual(tr.attempt.Rcpt, []string{tr.attempt.Action + "@example.com"}):
			t.Errorf("Attempt.Rcpt = %v for action %s", tr.attempt.Rcpt, tr.attempt.Action)
		}
		tr.reply <- nil
	}
	if !seen[id+".0"] || !seen[id+".1"] {
		t.Errorf("tries %v, want %s.0 and %s.1", seen, id, id)
	}
	empty(t, q)
	noDead(t, q)
	r.none(t)
}

// A failed delivery waits MinBackoff, doubled at each failure, plus up to
// a quarter more, at most MaxBackoff; each try has the same Attempt.ID
// and the next Number; the other delivery of the message is not run
// again.
func testBackoff(t *testing.T, open func(*queue.Options) (Q, *clock)) {
	const minB, maxB = time.Minute, 3 * time.Minute
	q, clock := open(&queue.Options{MinBackoff: minB, MaxBackoff: maxB})
	r := newRunner()
	start(t, q, r)
	id := add(t, q, "x", "ok", "flaky")
	for range 2 {
		tr := r.next(t)
		if tr.attempt.Action == "ok" {
			tr.reply <- nil
		} else {
			tr.reply <- errors.New("451 try 1")
		}
	}
	bounds := []struct{ lo, hi time.Duration }{
		{minB, minB * 5 / 4},
		{2 * minB, 2 * minB * 5 / 4},
		{maxB, maxB},
		{maxB, maxB},
	}
	for n, b := range bounds {
		failed := clock.Now()
		in := waiting(t, q, id, fmt.Sprintf("with %d tries of %s.1", n+1, id), func(in queue.Info) bool {
			return len(in.Deliveries) == 2 && in.Deliveries[1].Tries == n+1 && in.Deliveries[0].State == queue.Done
		})
		d := in.Deliveries[1]
		if wait := d.Next.Sub(failed); wait < b.lo || wait > b.hi {
			t.Errorf("after failure %d: next try in %v, want %v to %v", n+1, wait, b.lo, b.hi)
		}
		if want := fmt.Sprintf("451 try %d", n+1); d.State != queue.Pending || d.Error != want {
			t.Errorf("after failure %d: %+v, want pending with error %q", n+1, d, want)
		}
		clock.Set(d.Next)
		tr := r.next(t)
		if tr.attempt.ID != id+".1" || tr.attempt.Number != n+2 || tr.attempt.Final {
			t.Fatalf("try %d: %+v, want %s.1, Number %d, not Final", n+2, tr.attempt, id, n+2)
		}
		if n+2 <= len(bounds) {
			tr.reply <- fmt.Errorf("451 try %d", n+2)
		} else {
			tr.reply <- nil
		}
	}
	empty(t, q)
	noDead(t, q)
	r.none(t)
}

// A failure made with RetryAfter waits as long as it asks when that is
// longer than the backoff; one that asks for a try after the lifetime
// makes the delivery dead at once.
func testRetryAfter(t *testing.T, open func(*queue.Options) (Q, *clock)) {
	q, clock := open(&queue.Options{MinBackoff: time.Minute, MaxBackoff: time.Hour, Lifetime: 24 * time.Hour})
	r := newRunner()
	start(t, q, r)
	id := add(t, q, "x", "webhook")
	r.next(t).reply <- queue.RetryAfter(errors.New("503 slow down"), 30*time.Minute)
	failed := clock.Now()
	in := waiting(t, q, id, "tried once", func(in queue.Info) bool { return in.Deliveries[0].Tries == 1 })
	if got := in.Deliveries[0].Next.Sub(failed); got != 30*time.Minute {
		t.Errorf("next try in %v, want the 30m0s asked for", got)
	}
	clock.Set(in.Deliveries[0].Next)
	tr := r.next(t)
	if tr.attempt.Number != 2 || tr.attempt.ID != id+".0" {
		t.Errorf("second try %+v", tr.attempt)
	}
	tr.reply <- queue.RetryAfter(errors.New("503 come back in two days"), 48*time.Hour)
	d := dead(t, q, id).Deliveries[0]
	if d.State != queue.Dead || d.Tries != 2 || !strings.Contains(d.Error, "503 come back in two days") {
		t.Errorf("dead delivery %+v", d)
	}
	empty(t, q)
}

// A Permanent failure makes its delivery dead at once; the message, once
// its other delivery is done, is a dead letter with the reason.
func testPermanent(t *testing.T, open func(*queue.Options) (Q, *clock)) {
	q, _ := open(nil)
	r := newRunner()
	start(t, q, r)
	id := add(t, q, "x", "forward", "inbox")
	for range 2 {
		tr := r.next(t)
		if tr.attempt.Action == "forward" {
			tr.reply <- queue.Permanent(errors.New("550 5.1.1 no such user"))
		} else {
			tr.reply <- nil
		}
	}
	in := dead(t, q, id)
	if len(in.Deliveries) != 2 {
		t.Fatalf("dead letter %+v", in)
	}
	if d := in.Deliveries[0]; d.State != queue.Dead || d.Tries != 1 || !strings.Contains(d.Error, "550 5.1.1 no such user") || d.AttemptID != id+".0" {
		t.Errorf("dead delivery %+v", d)
	}
	if d := in.Deliveries[1]; d.State != queue.Done {
		t.Errorf("done delivery %+v", d)
	}
	empty(t, q)
	r.none(t)
}

// Tries go on for Lifetime: the last one that fits is Final, and its
// failure makes the delivery dead, with a reason that says so.
func testLifetime(t *testing.T, open func(*queue.Options) (Q, *clock)) {
	// MinBackoff = MaxBackoff: waits of exactly 4 minutes, tries at 0, 4
	// and 8 minutes, the last one Final (a fourth would come after 10).
	q, clock := open(&queue.Options{Lifetime: 10 * time.Minute, MinBackoff: 4 * time.Minute, MaxBackoff: 4 * time.Minute})
	r := newRunner()
	start(t, q, r)
	t0 := clock.Now()
	id := add(t, q, "x", "webhook")
	for n := 1; n <= 3; n++ {
		tr := r.next(t)
		if tr.attempt.Number != n || tr.attempt.Final != (n == 3) {
			t.Errorf("try %d: Number %d, Final %v; want Final only on try 3", n, tr.attempt.Number, tr.attempt.Final)
		}
		tr.reply <- fmt.Errorf("451 try %d", n)
		if n == 3 {
			break
		}
		in := waiting(t, q, id, fmt.Sprintf("tried %d times", n), func(in queue.Info) bool { return in.Deliveries[0].Tries == n })
		if want := t0.Add(time.Duration(n) * 4 * time.Minute); !in.Deliveries[0].Next.Equal(want) {
			t.Errorf("after try %d: next at %v, want %v", n, in.Deliveries[0].Next, want)
		}
		clock.Set(in.Deliveries[0].Next)
	}
	d := dead(t, q, id).Deliveries[0]
	if d.State != queue.Dead || d.Tries != 3 || !strings.Contains(d.Error, "lifetime") || !strings.Contains(d.Error, "451 try 3") {
		t.Errorf("dead delivery %+v", d)
	}
	empty(t, q)
}

// Replay puts a dead letter back: its dead delivery runs again under the
// same Attempt.ID, with a new lifetime; its done delivery does not run
// again. Retry and Replay refuse messages in the wrong place.
func testReplay(t *testing.T, open func(*queue.Options) (Q, *clock)) {
	q, clock := open(nil)
	r := newRunner()
	start(t, q, r)
	id := add(t, q, "x", "forward", "inbox")
	for range 2 {
		tr := r.next(t)
		if tr.attempt.Action == "forward" {
			tr.reply <- queue.Permanent(errors.New("550 rejected"))
		} else {
			tr.reply <- nil
		}
	}
	dead(t, q, id)
	if err := q.Retry(t.Context(), id); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Retry of a dead letter: %v, want ErrNotFound", err)
	}
	for _, bad := range []string{"0000000000000001", "not-an-id", ""} {
		if err := q.Replay(t.Context(), bad); !errors.Is(err, queue.ErrNotFound) {
			t.Errorf("Replay(%q): %v, want ErrNotFound", bad, err)
		}
	}
	clock.Add(time.Hour)
	if err := q.Replay(t.Context(), id); err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if err := q.Replay(t.Context(), id); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Replay of a waiting message: %v, want ErrNotFound", err)
	}
	tr := r.next(t)
	if tr.attempt.ID != id+".0" || tr.attempt.Number != 2 || tr.attempt.Action != "forward" {
		t.Errorf("replayed try %+v, want %s.0 try 2", tr.attempt, id)
	}
	in := waiting(t, q, id, "replayed", func(queue.Info) bool { return true })
	if !in.Since.Equal(clock.Now()) {
		t.Errorf("replayed message's lifetime starts at %v, want %v", in.Since, clock.Now())
	}
	tr.reply <- nil
	empty(t, q)
	noDead(t, q)
	r.none(t)
}

// Retry and RetryAll make a waiting delivery due now, before its backoff
// ends.
func testRetry(t *testing.T, open func(*queue.Options) (Q, *clock)) {
	q, _ := open(&queue.Options{MinBackoff: time.Hour, MaxBackoff: time.Hour})
	r := newRunner()
	start(t, q, r)
	a := add(t, q, "x", "webhook")
	b := add(t, q, "y", "webhook")
	for range 2 {
		r.next(t).reply <- errors.New("451 later")
	}
	for _, id := range []string{a, b} {
		waiting(t, q, id, "tried once", func(in queue.Info) bool { return in.Deliveries[0].Tries == 1 })
	}
	if err := q.Retry(t.Context(), a); err != nil {
		t.Fatalf("Retry: %v", err)
	}
	if tr := r.next(t); tr.msg.ID != a || tr.attempt.Number != 2 {
		t.Errorf("after Retry(%s): try %+v of %s", a, tr.attempt, tr.msg.ID)
	} else {
		tr.reply <- errors.New("451 later")
	}
	waiting(t, q, a, "tried twice", func(in queue.Info) bool { return in.Deliveries[0].Tries == 2 })
	if err := q.RetryAll(t.Context()); err != nil {
		t.Fatalf("RetryAll: %v", err)
	}
	got := map[string]int{}
	for range 2 {
		tr := r.next(t)
		got[tr.msg.ID] = tr.attempt.Number
		tr.reply <- nil
	}
	if want := map[string]int{a: 3, b: 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("after RetryAll: tries %v, want %v", got, want)
	}
	empty(t, q)
	if err := q.Retry(t.Context(), a); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Retry of a finished message: %v, want ErrNotFound", err)
	}
}

// Delete removes a waiting message and a dead letter for good.
func testDelete(t *testing.T, open func(*queue.Options) (Q, *clock)) {
	q, _ := open(&queue.Options{MinBackoff: time.Hour, MaxBackoff: time.Hour})
	r := newRunner()
	start(t, q, r)
	w := add(t, q, "x", "webhook")
	r.next(t).reply <- errors.New("451 later")
	waiting(t, q, w, "tried once", func(in queue.Info) bool { return in.Deliveries[0].Tries == 1 })
	d := add(t, q, "y", "webhook")
	r.next(t).reply <- queue.Permanent(errors.New("550 no"))
	dead(t, q, d)
	for _, id := range []string{w, d} {
		if err := q.Delete(t.Context(), id); err != nil {
			t.Errorf("Delete(%s): %v", id, err)
		}
		if err := q.Delete(t.Context(), id); !errors.Is(err, queue.ErrNotFound) {
			t.Errorf("second Delete(%s): %v, want ErrNotFound", id, err)
		}
	}
	empty(t, q)
	noDead(t, q)
	if err := q.RetryAll(t.Context()); err != nil {
		t.Fatal(err)
	}
	r.none(t)
}

// Concurrent Adds each commit their own message, under IDs of their own,
// and every delivery of each runs exactly once.
func testConcurrentAdds(t *testing.T, open func(*queue.Options) (Q, *clock)) {
	const writers, each = 8, 25
	q, _ := open(nil)
	var (
		mu    sync.Mutex
		tries = map[string]int{}
		all   = make(chan struct{})
	)
	start(t, q, queue.RunnerFunc(func(ctx context.Context, m *queue.Message, a *queue.Attempt) error {
		mu.Lock()
		defer mu.Unlock()
		tries[a.ID]++
		if len(tries) == 2*writers*each && tries[a.ID] == 1 {
			close(all)
		}
		return nil
	}))
	ids := make(chan string, writers*each)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				id, err := q.Add(t.Context(), env(), deliveries("a", "b"), strings.NewReader(fmt.Sprintf("message %d.%d", w, i)))
				if err != nil {
					t.Error(err)
					return
				}
				ids <- id
			}
		})
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		if seen[id] {
			t.Errorf("ID %s handed out twice", id)
		}
		seen[id] = true
	}
	select {
	case <-all:
	case <-time.After(timeout):
		t.Fatalf("not every delivery ran within %v", timeout)
	}
	empty(t, q)
	mu.Lock()
	defer mu.Unlock()
	for id := range seen {
		for _, a := range []string{id + ".0", id + ".1"} {
			if tries[a] != 1 {
				t.Errorf("%s ran %d times", a, tries[a])
			}
		}
	}
	if len(tries) != 2*len(seen) {
		t.Errorf("%d attempts ran for %d messages", len(tries), len(seen))
	}
}

// A try cut off by the end of Run does not count: the next Run tries the
// delivery again under the same Attempt.ID and Number.
func testCutOff(t *testing.T, open func(*queue.Options) (Q, *clock)) {
	q, _ := open(nil)
	r := newRunner()
	stop := start(t, q, r)
	id := add(t, q, "x", "webhook")
	tr := r.next(t)
	stop()
	if tr.ctx.Err() == nil {
		t.Error("the try's context is not done after Run returned")
	}
	r.none(t) // no try started while Run was ending
	in := waiting(t, q, id, "waiting", func(queue.Info) bool { return true })
	if d := in.Deliveries[0]; d.Tries != 0 || d.State != queue.Pending {
		t.Errorf("after the cut-off try: %+v, want pending with no try counted", d)
	}
	start(t, q, r)
	tr = r.next(t)
	if tr.attempt.ID != id+".0" || tr.attempt.Number != 1 {
		t.Errorf("after a cut-off try: %+v, want %s.0 try 1", tr.attempt, id)
	}
	tr.reply <- nil
	empty(t, q)
}

// Run refuses to run twice at once, and Add and Run fail after Close.
func testRunningAndClosed(t *testing.T, open func(*queue.Options) (Q, *clock)) {
	q, _ := open(nil)
	r := newRunner()
	stop := start(t, q, r)
	add(t, q, "x", "webhook")
	r.next(t).reply <- nil // Run is running
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	if err := q.Run(ctx, newRunner()); !errors.Is(err, queue.ErrRunning) {
		t.Errorf("second Run: %v, want ErrRunning", err)
	}
	stop()
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Add(t.Context(), env(), deliveries("a"), strings.NewReader("x")); !errors.Is(err, queue.ErrClosed) {
		t.Errorf("Add after Close: %v, want ErrClosed", err)
	}
	if err := q.Run(ctx, newRunner()); !errors.Is(err, queue.ErrClosed) {
		t.Errorf("Run after Close: %v, want ErrClosed", err)
	}
}

// Options.Observer hears of each try that ended, with its action, how long
// the Runner took and where the delivery stands after it: done, pending
// (to be tried again) or dead.
func testObserver(t *testing.T, open func(*queue.Options) (Q, *clock)) {
	var (
		mu    sync.Mutex
		tries []string
	)
	obs := &queue.Observer{Tried: func(action string, d time.Duration, state queue.State) {
		mu.Lock()
		defer mu.Unlock()
		if d <= 0 {
			t.Errorf("try of %s took %v", action, d)
		}
		tries = append(tries, action+" "+string(state))
	}}
	q, clock := open(&queue.Options{MinBackoff: time.Minute, MaxBackoff: time.Minute, Observer: obs})
	r := newRunner()
	start(t, q, r)
	id := add(t, q, "x", "inbox", "webhook", "forward")
	for range 3 {
		switch tr := r.next(t); tr.attempt.Action {
		case "inbox":
			tr.reply <- nil
		case "webhook":
			tr.reply <- errors.New("503 try later")
		default:
			tr.reply <- queue.Permanent(errors.New("550 5.1.1 no such user"))
		}
	}
	in := waiting(t, q, id, "with the webhook pending", func(in queue.Info) bool {
		return len(in.Deliveries) == 3 && in.Deliveries[1].Tries == 1 && in.Deliveries[2].State == queue.Dead
	})
	clock.Set(in.Deliveries[1].Next)
	if tr := r.next(t); tr.attempt.Action != "webhook" {
		t.Fatalf("try of %s, want the webhook", tr.attempt.Action)
	} else {
		tr.reply <- nil
	}
	dead(t, q, id)
	want := []string{"forward dead", "inbox done", "webhook done", "webhook pending"}
	waitFor(t, "four tries reported", func() (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return len(tries) >= len(want), nil
	})
	mu.Lock()
	defer mu.Unlock()
	got := append([]string(nil), tries...)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("tries reported %v, want %v", got, want)
	}
	r.none(t)
}

// Count counts the waiting messages (those being tried included) and the
// dead letters; a message that is done leaves both counts.
func testCount(t *testing.T, open func(*queue.Options) (Q, *clock)) {
	q, _ := open(nil)
	count := func() queue.Counts {
		t.Helper()
		c, err := q.Count(t.Context())
		if err != nil {
			t.Fatalf("Count: %v", err)
		}
		return c
	}
	if c := count(); c != (queue.Counts{}) {
		t.Fatalf("an empty queue counts %+v", c)
	}
	for i := range 3 {
		add(t, q, fmt.Sprintf("message %d", i), "webhook")
	}
	if c := count(); c != (queue.Counts{Waiting: 3}) {
		t.Fatalf("after 3 Adds: %+v, want 3 waiting", c)
	}
	r := newRunner()
	start(t, q, r)
	tries := []*try{r.next(t), r.next(t), r.next(t)}
	if c := count(); c != (queue.Counts{Waiting: 3}) {
		t.Errorf("while their tries run: %+v, want 3 waiting", c)
	}
	tries[0].reply <- nil
	tries[1].reply <- queue.Permanent(errors.New("550 5.1.1 no such user"))
	counted := func(want queue.Counts) {
		t.Helper()
		waitFor(t, fmt.Sprintf("counts %+v", want), func() (bool, error) {
			c, err := q.Count(t.Context())
			return c == want, err
		})
	}
	counted(queue.Counts{Waiting: 1, Dead: 1})
	tries[2].reply <- nil
	counted(queue.Counts{Dead: 1})
}
