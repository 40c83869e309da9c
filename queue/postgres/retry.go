package postgres

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/ownmx/ownmx/queue"
)

// The retry policy is the local queue's (see queue's doc, Retries), so
// that a delivery is tried on the same schedule whichever queue holds it.

// final reports whether a try at now of a delivery that failed failures
// times in a row is its last: whether the message's lifetime, which began
// at since, ends before the shortest wait that a failure now would bring.
func (q *Queue) final(failures int, since, now time.Time) bool {
	return q.opts.Lifetime > 0 && now.Add(q.minBackoff(failures+1)).After(since.Add(q.opts.Lifetime))
}

// outcome is where a delivery stands after a try.
type outcome struct {
	state    queue.State
	tries    int
	failures int
	due      time.Time // of the next try, for a pending delivery
	err      string
}

// outcomeOf returns where delivery j stands after a try at now that ended
// with err; final is the try's Attempt.Final. A failure of a final try
// makes the delivery dead, and so does a RetryAfter past the lifetime;
// otherwise the next try comes no later than the lifetime's end, where it
// is final.
func (q *Queue) outcomeOf(j *job, err error, final bool, now time.Time) outcome {
	o := outcome{state: queue.Pending, tries: j.tries + 1, failures: j.failures, due: now}
	if err == nil {
		o.state = queue.Done
		return o
	}
	o.err = err.Error()
	if queue.IsPermanent(err) {
		o.state = queue.Dead
		return o
	}
	o.failures++
	wait := q.backoff(o.failures)
	after, asked := queue.RetryAfterOf(err)
	if asked && after > wait {
		wait = after
	}
	next := now.Add(wait)
	if q.opts.Lifetime > 0 {
		end := j.since.Add(q.opts.Lifetime)
		if final || asked && next.After(end) {
			o.state = queue.Dead
			o.err = fmt.Sprintf("gave up after %d tries, the lifetime of %v having passed: %v", o.tries, q.opts.Lifetime, err)
			return o
		}
		// The random part of the wait may carry the next try past the
		// end: it comes at the end then, and is the final one.
		if next.After(end) {
			next = end
		}
	}
	o.due = next.Truncate(time.Microsecond)
	return o
}

// backoff returns the wait after the n-th failure in a row: MinBackoff
// doubled n-1 times, plus up to a quarter more at random, at most
// MaxBackoff.
func (q *Queue) backoff(n int) time.Duration {
	d := q.minBackoff(n)
	if d > 0 {
		d += rand.N(d/4 + 1)
	}
	return min(max(d, q.opts.MinBackoff), q.opts.MaxBackoff)
}

// minBackoff is backoff without the random part: the shortest wait after
// the n-th failure in a row.
func (q *Queue) minBackoff(n int) time.Duration {
	d := q.opts.MinBackoff
	for i := 1; i < n && d < q.opts.MaxBackoff; i++ {
		d *= 2
	}
	return min(max(d, q.opts.MinBackoff), q.opts.MaxBackoff)
}
