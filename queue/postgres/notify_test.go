package postgres

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ownmx/ownmx/internal/pgtest"
	"github.com/ownmx/ownmx/queue"
)

// A Queue that never polls is woken by the notifications of another
// Queue on the database (another host's): by its Add, and by its Admin's
// Retry of a delivery whose next try is an hour away.
func TestNotificationWakes(t *testing.T) {
	url := pgtest.Shared(t)
	c := newClock()
	opts := func() *Options {
		return &Options{Options: queue.Options{Now: c.Now, MinBackoff: time.Hour, MaxBackoff: time.Hour}, Poll: -1}
	}
	adder, runner := open(t, url, opts()), open(t, url, opts())
	r := make(handRunner, 10)
	rec := records(runner)
	idle, listened, last := idleSignals(runner)
	run(t, runner, r)

	// Only once runner listens, and has looked for what was committed
	// before, does it depend on notifications alone.
	select {
	case k := <-listened:
		idle(t, k)
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not listen within 20s")
	}
	id := addOne(t, adder)
	tr := r.next(t)
	trying := last() // from here until the try's end, Run waits with a try running
	if tr.attempt.ID != id+".0" {
		t.Fatalf("tried %s, want %s.0", tr.attempt.ID, id)
	}
	tr.reply <- errors.New("451 later")
	if got := nextRecord(t, rec); got != (recordedTry{id + ".0", true}) {
		t.Fatalf("recorded %+v", got)
	}

	idle(t, trying) // runner has looked after the try, and sleeps for an hour
	if err := adder.Admin().Retry(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	tr = r.next(t)
	if tr.attempt.ID != id+".0" || tr.attempt.Number != 2 {
		t.Fatalf("after Retry: %+v, want %s.0 try 2", tr.attempt, id)
	}
	tr.reply <- nil
	if got := nextRecord(t, rec); got != (recordedTry{id + ".0", true}) {
		t.Fatalf("recorded %+v", got)
	}
}

// idleSignals numbers the times q's Run is about to wait. It returns a
// function that waits until Run is about to wait with no try running,
// after the time numbered after (after a try's result was recorded, or
// after a look that began once Run listened), a channel that gets the
// number of the last time before Run listened, and a function that
// returns the number of the last time so far.
func idleSignals(q *Queue) (idle func(t *testing.T, after int), listened <-chan int, last func() int) {
	var (
		mu  sync.Mutex
		seq int
	)
	type signal struct{ seq, running int }
	ch := make(chan signal, 10000)
	l := make(chan int, 10)
	q.waiting = func(running int) {
		mu.Lock()
		seq++
		ch <- signal{seq, running}
		mu.Unlock()
	}
	q.listening = func() {
		mu.Lock()
		l <- seq
		mu.Unlock()
	}
	idle = func(t *testing.T, after int) {
		t.Helper()
		for {
			select {
			case s := <-ch:
				if s.seq > after && s.running == 0 {
					return
				}
			case <-time.After(20 * time.Second):
				t.Fatal("Run did not come to rest within 20s")
			}
		}
	}
	last = func() int {
		mu.Lock()
		defer mu.Unlock()
		return seq
	}
	return idle, l, last
}
