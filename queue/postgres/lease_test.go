package postgres

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ownmx/ownmx/internal/pgtest"
	"github.com/ownmx/ownmx/queue"
)

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

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// step is one try that a handRunner saw.
type step struct {
	attempt queue.Attempt
	ctx     context.Context
	reply   chan error
}

// handRunner hands each try to the test, which answers it.
type handRunner chan *step

func (h handRunner) Run(ctx context.Context, m *queue.Message, a *queue.Attempt) error {
	s := &step{attempt: *a, ctx: ctx, reply: make(chan error, 1)}
	h <- s
	select {
	case err := <-s.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h handRunner) next(t *testing.T) *step {
	t.Helper()
	select {
	case s := <-h:
		return s
	case <-time.After(20 * time.Second):
		t.Fatal("no try started within 20s")
		return nil
	}
}

// records returns a channel that receives what q records of each try's
// result: the attempt's ID, and whether the lease was still its own.
type recordedTry struct {
	attempt string
	ours    bool
}

func records(q *Queue) chan recordedTry {
	ch := make(chan recordedTry, 100)
	q.recorded = func(id string, ours bool) { ch <- recordedTry{id, ours} }
	return ch
}

func nextRecord(t *testing.T, ch chan recordedTry) recordedTry {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("no result recorded within 20s")
		return recordedTry{}
	}
}

// addOne commits a message with one delivery through q.
func addOne(t *testing.T, q *Queue) string {
	t.Helper()
	id, err := q.Add(t.Context(), &queue.Envelope{From: "a@example.org"}, []queue.Delivery{{Action: "webhook"}}, strings.NewReader("Subject: x\r\n\r\nx\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// listOne returns the only waiting message.
func listOne(t *testing.T, q *Queue) queue.Info {
	t.Helper()
	infos, err := q.Admin().List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 {
		t.Fatalf("List = %+v, want one message", infos)
	}
	return infos[0]
}

// A try that outlives its lease (its worker hung, or its host is cut off)
// loses the delivery: once the lease ends another Queue takes it, under
// the same Attempt.ID and Number, and the late result of the first try is
// not recorded over the second's.
func TestLeaseTakeover(t *testing.T) {
	url := pgtest.Shared(t)
	c := newClock()
	const lease = time.Minute
	// One worker each: a's is busy with the try that outlives its lease,
	// so the takeover is b's.
	opts := func(name string) *Options {
		return &Options{Options: queue.Options{Now: c.Now, MinBackoff: time.Hour, MaxBackoff: time.Hour, Workers: 1}, Lease: lease, Name: name}
	}
	a, b := open(t, url, opts("a")), open(t, url, opts("b"))
	recA, recB := records(a), records(b)
	ra, rb := make(handRunner, 10), make(handRunner, 10)
	run(t, a, ra)
	id := addOne(t, a)
	first := ra.next(t) // a holds the lease until c.Now()+lease
	run(t, b, rb)

	c.Add(lease)
	second := rb.next(t)
	if second.attempt.ID != id+".0" || second.attempt.Number != 1 || second.attempt.Final != first.attempt.Final {
		t.Fatalf("taken over as %+v, want the first try's %+v", second.attempt, first.attempt)
	}
	second.reply <- errors.New("451 from b")
	if r := nextRecord(t, recB); r != (recordedTry{id + ".0", true}) {
		t.Fatalf("b recorded %+v", r)
	}

	first.reply <- nil // too late: b owns the delivery now
	if r := nextRecord(t, recA); r != (recordedTry{id + ".0", false}) {
		t.Fatalf("a recorded %+v, want its lease found taken", r)
	}
	d := listOne(t, a).Deliveries[0]
	if d.State != queue.Pending || d.Tries != 1 || d.Error != "451 from b" {
		t.Errorf("after a's late success: %+v, want b's failure (pending, 1 try, 451 from b)", d)
	}
}

// A Queue whose host died holding a lease (here: its connections gone,
// then its Run ended, so that it could give nothing back) leaves the
// delivery to another Queue once the lease ends, under the same
// Attempt.ID and Number; one that stops cleanly gives its lease back, and
// another Queue takes the delivery at once.
func TestLeaseOfStoppedWorker(t *testing.T) {
	for _, died := range []bool{false, true} {
		name := map[bool]string{false: "Stopped", true: "Died"}[died]
		t.Run(name, func(t *testing.T) {
			url := pgtest.Shared(t)
			c := newClock()
			const lease = time.Minute
			opts := &Options{Options: queue.Options{Now: c.Now}, Lease: lease}
			a, b := open(t, url, opts), open(t, url, opts)
			ra, rb := make(handRunner, 10), make(handRunner, 10)
			released := make(chan string, 1)
			a.released = func(id string) { released <- id }
			recB := records(b)
			stopA := run(t, a, ra)
			id := addOne(t, a)
			first := ra.next(t)
			if died {
				a.pool.Close() // the host lost the database, and then its life
			}
			stopA()
			if first.ctx.Err() == nil {
				t.Error("the try's context is not done after Run returned")
			}
			select {
			case got := <-released:
				if died {
					t.Fatalf("a dead worker gave its lease of %s back", got)
				}
			default:
				if !died {
					t.Fatal("a stopped worker did not give its lease back")
				}
			}
			run(t, b, rb)
			if died {
				d := listOne(t, b).Deliveries[0]
				if !d.Next.Equal(c.Now().Add(lease)) {
					t.Errorf("the dead worker's lease ends at %v, want %v", d.Next, c.Now().Add(lease))
				}
				c.Add(lease)
			}
			second := rb.next(t)
			if second.attempt.ID != id+".0" || second.attempt.Number != 1 {
				t.Fatalf("taken over as %+v, want %s.0 try 1", second.attempt, id)
			}
			second.reply <- nil
			if r := nextRecord(t, recB); r != (recordedTry{id + ".0", true}) {
				t.Fatalf("b recorded %+v", r)
			}
			infos, err := b.Admin().List(t.Context())
			if err != nil || len(infos) != 0 {
				t.Errorf("List = %+v, %v; want the message gone", infos, err)
			}
		})
	}
}
