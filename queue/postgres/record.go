package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ownmx/ownmx/queue"
)

// The statements that record a try's result, sent together and run in
// one (implicit) transaction. The message's row is locked first, so that
// the tries of its deliveries that end together record one after the
// other and the last one sees the others' results: it removes the message
// when every delivery is done, or makes it a dead letter when none is
// pending and one is dead.
const (
	lockMessage  = `SELECT 1 FROM ownmx_queue_message WHERE id = $1 FOR UPDATE`
	recordResult = `UPDATE ownmx_queue_delivery
		SET state = $3, tries = $4, failures = $5, due = $6, error = $7, lease = NULL, owner = NULL
		WHERE message = $1 AND idx = $2 AND lease = $8`
	removeDone = `DELETE FROM ownmx_queue_message WHERE id = $1
		AND NOT EXISTS (SELECT 1 FROM ownmx_queue_delivery WHERE message = $1 AND state <> 'done')`
	markDead = `UPDATE ownmx_queue_message SET dead = $2 WHERE id = $1 AND dead IS NULL
		AND NOT EXISTS (SELECT 1 FROM ownmx_queue_delivery WHERE message = $1 AND state = 'pending')
		RETURNING envelope->>'mail_from',
			(SELECT array_agg(lpad(to_hex(message), 16, '0') || '.' || idx || ' (' || action || '): ' || error ORDER BY idx)
			FROM ownmx_queue_delivery WHERE message = $1 AND state = 'dead')`
	releaseLease = `UPDATE ownmx_queue_delivery SET due = $3, lease = NULL, owner = NULL
		WHERE message = $1 AND idx = $2 AND lease = $4`
)

// recordTimeout bounds each attempt at recording a result.
const recordTimeout = 10 * time.Second

// record records the result err of try a of job j, if j's lease is still
// this worker's. While the database fails, it tries again until the
// lease's end, or once more after Run's end: a result that is not
// recorded means the delivery runs again. A result recorded is reported
// to Options.Observer with took, how long the try ran.
func (q *Queue) record(runCtx context.Context, j *job, a *queue.Attempt, err error, took time.Duration) {
	now := q.now()
	o := q.outcomeOf(j, err, a.Final, now)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(runCtx), q.opts.Lease)
	defer cancel()
	var (
		ours, removed, dead bool
		from                string
		reasons             []string
	)
	batch := func() *pgx.Batch {
		ours, removed, dead = false, false, false
		b := &pgx.Batch{}
		b.Queue(lockMessage, j.message)
		b.Queue(recordResult, j.message, j.idx, string(o.state), o.tries, o.failures, o.due, o.err, j.lease).Exec(func(tag pgconn.CommandTag) error {
			ours = tag.RowsAffected() == 1
			return nil
		})
		b.Queue(removeDone, j.message).Exec(func(tag pgconn.CommandTag) error {
			removed = tag.RowsAffected() == 1
			return nil
		})
		b.Queue(markDead, j.message, now).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				dead = true
				if err := rows.Scan(&from, &reasons); err != nil {
					return err
				}
			}
			return rows.Err()
		})
		return b
	}
	wait := 100 * time.Millisecond
	for {
		attemptCtx, cancelAttempt := context.WithTimeout(ctx, recordTimeout)
		dbErr := q.pool.SendBatch(attemptCtx, batch()).Close()
		cancelAttempt()
		if dbErr == nil {
			break
		}
		q.opts.Logger.Error("queue/postgres: recording a try", "attempt", a.ID, "worker", q.opts.Name, "err", dbErr)
		if runCtx.Err() != nil || ctx.Err() != nil {
			return // the lease will end, and the delivery run again
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-runCtx.Done():
		case <-ctx.Done():
		}
		t.Stop()
		wait = min(2*wait, 2*time.Second)
	}
	if q.recorded != nil {
		defer q.recorded(a.ID, ours)
	}
	id := formatID(j.message)
	if !ours {
		q.opts.Logger.Warn("queue/postgres: a try ended after its lease had passed to another worker (or its message was deleted): its result is not recorded",
			"id", id, "attempt", a.ID, "worker", q.opts.Name, "err", err)
		return
	}
	q.log(id, a, o, err)
	q.opts.Observer.ObserveTry(a.Action, took, o.state)
	switch {
	case removed:
		q.opts.Logger.Debug("queue: message done", "id", id)
	case dead:
		q.opts.Logger.Warn("queue: message moved to the dead letters", "id", id, "from", from, "dead", reasons)
	}
}

// log records a try: done (at debug level), failed, or dead.
func (q *Queue) log(id string, a *queue.Attempt, o outcome, err error) {
	switch {
	case o.state == queue.Done:
		q.opts.Logger.Debug("queue: delivered", "id", id, "attempt", a.ID, "action", a.Action, "try", a.Number, "worker", q.opts.Name)
	case o.state == queue.Dead:
		q.opts.Logger.Warn("queue: delivery is dead", "id", id, "attempt", a.ID, "action", a.Action, "tries", o.tries, "reason", o.err, "worker", q.opts.Name)
	case err != nil:
		q.opts.Logger.Info("queue: try failed", "id", id, "attempt", a.ID, "action", a.Action, "try", a.Number, "next", o.due, "err", err, "worker", q.opts.Name)
	}
}

// release gives back the lease of job j, whose try a Run's end cut off,
// so that any worker may take the delivery at once (a notification wakes
// them); a release that fails
// leaves the lease to end by itself.
func (q *Queue) release(runCtx context.Context, j *job, a *queue.Attempt) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(runCtx), recordTimeout)
	defer cancel()
	_, err := q.pool.Exec(ctx, releaseLease, j.message, j.idx, q.now(), j.lease)
	if err == nil {
		q.notifyLater()
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		q.opts.Logger.Warn("queue/postgres: giving back the lease of a try cut off by the end of Run", "attempt", a.ID, "err", err)
	}
	if err == nil && q.released != nil {
		q.released(a.ID)
	}
}
