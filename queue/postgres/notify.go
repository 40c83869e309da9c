package postgres

import (
	"context"
	"time"
)

// Notifications.
//
// A NOTIFY holds a lock of the whole database from its transaction's
// commit until the commit is flushed, so a NOTIFY in each Add would make
// the Adds of every host commit one after the other, each waiting for its
// own flush of the write-ahead log (measured: a quarter of the Adds per
// second of notifying apart). So the Adds and operations commit without
// one, then ask the Queue's notifier, which sends one notification for
// all the changes committed since its last, in a transaction of its own
// that does not wait for its flush (a notification lost to a crash costs
// at most a Poll).

// notifyStatement sends a notification without waiting for its commit
// to be flushed.
const notifyStatement = `SELECT set_config('synchronous_commit', 'off', true), pg_notify('` + channel + `', '')`

// notifyTimeout bounds the sending of a notification.
const notifyTimeout = 10 * time.Second

// notifyLater asks the notifier to send a notification, for a change
// already committed. It never waits.
func (q *Queue) notifyLater() {
	select {
	case q.notifyC <- struct{}{}:
	default: // one is pending, which will cover this change too
	}
}

// notifier sends a notification for each request (or group of requests
// made while it was sending), until stop is closed.
func (q *Queue) notifier(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-q.notifyC:
		}
		ctx, cancel := context.WithTimeout(context.Background(), notifyTimeout)
		if _, err := q.pool.Exec(ctx, notifyStatement); err != nil {
			q.opts.Logger.Debug("queue/postgres: notifying the other workers", "err", err)
		}
		cancel()
	}
}
