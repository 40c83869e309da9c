package postgres

import (
	"time"

	"github.com/ownmx/ownmx/queue"
)

// The retry policy is the local queue's (see queue's doc, Retries), so
// that a delivery is tried on the same schedule whichever queue holds it.

// final reports whether a try at now of a delivery that failed failures
// times in a row is its last: whether the message's lifetime, which began
// at since, ends before the shortest wait that a failure now would bring.
func (q *Queue) final(failures int, since, now time.Time) bool {
	return q.opts.Options.Final(failures, since, now)
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
	next, dead, reason := q.opts.Options.Retry(err, o.tries, o.failures, j.since, now, final)
	if dead {
		o.state, o.err = queue.Dead, reason
		return o
	}
	o.due = next.Truncate(time.Microsecond)
	return o
}
