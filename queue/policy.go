package queue

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// This file is the retry policy of Retries in the package documentation,
// exported so that every queue (this one, queue/postgres) tries a
// delivery on the same schedule.

// WithDefaults returns the options as a queue reads them: o's fields, those
// left at zero set to their defaults (a nil o gives every default), and
// negative backoffs made zero.
func (o *Options) WithDefaults() Options {
	var d Options
	if o != nil {
		d = *o
	}
	if d.Lifetime == 0 {
		d.Lifetime = DefaultLifetime
	}
	if d.MinBackoff == 0 {
		d.MinBackoff = DefaultMinBackoff
	}
	if d.MaxBackoff == 0 {
		d.MaxBackoff = DefaultMaxBackoff
	}
	d.MinBackoff, d.MaxBackoff = max(d.MinBackoff, 0), max(d.MaxBackoff, 0)
	if d.Workers == 0 {
		d.Workers = DefaultWorkers
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	return d
}

// Final reports whether a try at now of a delivery that has failed
// failures times in a row, of a message whose lifetime began at since, is
// the delivery's last (Attempt.Final): whether the lifetime ends before
// the shortest wait that a failure now would bring. o is as WithDefaults
// returns it.
func (o *Options) Final(failures int, since, now time.Time) bool {
	return o.Lifetime > 0 && now.Add(o.shortestWait(failures+1)).After(since.Add(o.Lifetime))
}

// Retry returns when a delivery is tried next after the try at now that
// failed with err, its tries-th try and its failures-th failure in a row,
// of a message whose lifetime began at since; final is the try's
// Attempt.Final. It returns dead and the reason instead when the delivery
// ends: for a Permanent error, a failure of a final try, or a RetryAfter
// past the lifetime. Otherwise the next try comes after the backoff (or
// the longer wait RetryAfter asks for), and no later than the lifetime's
// end, where it is final. o is as WithDefaults returns it.
func (o *Options) Retry(err error, tries, failures int, since, now time.Time, final bool) (next time.Time, dead bool, reason string) {
	if IsPermanent(err) {
		return time.Time{}, true, err.Error()
	}
	wait := o.wait(failures)
	after, asked := retryAfter(err)
	if asked && after > wait {
		wait = after
	}
	next = now.Add(wait)
	if o.Lifetime > 0 {
		end := since.Add(o.Lifetime)
		if final || asked && next.After(end) {
			return time.Time{}, true, fmt.Sprintf("gave up after %d tries, the lifetime of %v having passed: %v", tries, o.Lifetime, err)
		}
		// The random part of the wait may carry the next try past the
		// end: it comes at the end then, and is the final one.
		if next.After(end) {
			next = end
		}
	}
	return next, false, ""
}

// wait returns the wait after the n-th failure in a row: MinBackoff
// doubled n-1 times, plus up to a quarter more at random (so that the
// deliveries that failed together do not come back together), at most
// MaxBackoff.
func (o *Options) wait(n int) time.Duration {
	d := o.shortestWait(n)
	if d > 0 {
		d += rand.N(d/4 + 1)
	}
	return min(max(d, o.MinBackoff), o.MaxBackoff)
}

// shortestWait is wait without the random part.
func (o *Options) shortestWait(n int) time.Duration {
	d := o.MinBackoff
	for i := 1; i < n && d < o.MaxBackoff; i++ {
		d *= 2
	}
	return min(max(d, o.MinBackoff), o.MaxBackoff)
}
