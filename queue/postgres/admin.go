package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ownmx/ownmx/queue"
)

// Admin holds the operator's operations on a queue, those of queue.Admin
// (after Postfix's mailq, postqueue and postsuper): list the waiting
// messages and the dead letters, retry now, replay a dead letter, delete.
// They work from any process, on any host, also while others run the
// queue: a change that makes deliveries due wakes the running Queues.
// A delivery being tried is left to its try.
type Admin struct {
	pool   *pgxpool.Pool
	now    func() time.Time
	notify func() // asks for a notification of a committed change
}

// Admin returns the operations on q.
func (q *Queue) Admin() *Admin {
	return &Admin{pool: q.pool, now: q.now, notify: func() { q.wake(); q.notifyLater() }}
}

// listQuery describes the messages, waiting or dead, each with its
// deliveries in order.
const listQuery = `SELECT m.id, m.envelope, m.size, m.since,
		d.action, d.rcpt, d.state, d.tries, d.due, d.lease IS NOT NULL, d.error
	FROM ownmx_queue_message m JOIN ownmx_queue_delivery d ON d.message = m.id
	WHERE (m.dead IS NULL) = $1
	ORDER BY m.id, d.idx`

// Count counts the waiting messages and the dead letters, in one query
// that reads no message body, for a metrics scrape or a health check.
func (a *Admin) Count(ctx context.Context) (queue.Counts, error) {
	var c queue.Counts
	err := a.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE dead IS NULL), count(*) FILTER (WHERE dead IS NOT NULL)
		FROM ownmx_queue_message`).Scan(&c.Waiting, &c.Dead)
	if err != nil {
		return queue.Counts{}, fmt.Errorf("queue/postgres: counting messages: %w", err)
	}
	return c, nil
}

// List describes the waiting messages, oldest first. For a pending
// delivery being tried, Next is when its lease ends.
func (a *Admin) List(ctx context.Context) ([]queue.Info, error) { return a.list(ctx, true) }

// Dead describes the dead letters, oldest first, each with its dead
// deliveries' reasons.
func (a *Admin) Dead(ctx context.Context) ([]queue.Info, error) { return a.list(ctx, false) }

// list describes the waiting messages, or the dead letters.
func (a *Admin) list(ctx context.Context, waiting bool) ([]queue.Info, error) {
	rows, err := a.pool.Query(ctx, listQuery, waiting)
	if err != nil {
		return nil, fmt.Errorf("queue/postgres: listing messages: %w", err)
	}
	defer rows.Close()
	var (
		infos []queue.Info
		last  int64 = -1
	)
	for rows.Next() {
		var (
			id        int64
			env, rcpt []byte
			size      int64
			since     time.Time
			d         queue.DeliveryInfo
			state     string
			due       time.Time
			leased    bool
		)
		if err := rows.Scan(&id, &env, &size, &since, &d.Action, &rcpt, &state, &d.Tries, &due, &leased, &d.Error); err != nil {
			return nil, fmt.Errorf("queue/postgres: listing messages: %w", err)
		}
		if id != last {
			var e queue.Envelope
			if err := json.Unmarshal(env, &e); err != nil {
				return nil, fmt.Errorf("queue/postgres: message %s: envelope: %w", formatID(id), err)
			}
			infos = append(infos, queue.Info{ID: formatID(id), Received: e.Received, From: e.From, Rcpt: e.Rcpt, Size: size, Since: since})
			last = id
		}
		info := &infos[len(infos)-1]
		if err := json.Unmarshal(rcpt, &d.Rcpt); err != nil {
			return nil, fmt.Errorf("queue/postgres: message %s: recipients: %w", formatID(id), err)
		}
		d.AttemptID = attemptID(id, len(info.Deliveries))
		d.State = queue.State(state)
		if d.State == queue.Pending {
			d.Next = due
		}
		info.Deliveries = append(info.Deliveries, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue/postgres: listing messages: %w", err)
	}
	return infos, nil
}

// messageID reads id, or says that no message has it.
func messageID(id string) (int64, error) {
	n, ok := parseID(id)
	if !ok {
		return 0, fmt.Errorf("%w: %q is not a message ID", queue.ErrNotFound, id)
	}
	return n, nil
}

// Retry makes the pending deliveries of the waiting message id due now.
// It fails with queue.ErrNotFound when id is not waiting (a dead letter
// needs Replay).
func (a *Admin) Retry(ctx context.Context, id string) error {
	n, err := messageID(id)
	if err != nil {
		return err
	}
	var found bool
	b := &pgx.Batch{}
	b.Queue(`SELECT EXISTS (SELECT 1 FROM ownmx_queue_message WHERE id = $1 AND dead IS NULL)`, n).QueryRow(func(row pgx.Row) error {
		return row.Scan(&found)
	})
	b.Queue(`UPDATE ownmx_queue_delivery SET due = $2
		WHERE message = $1 AND state = 'pending' AND lease IS NULL AND due > $2`, n, a.now())
	if err := a.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("queue/postgres: retrying %s: %w", id, err)
	}
	if !found {
		return fmt.Errorf("%w: %s is not waiting", queue.ErrNotFound, id)
	}
	a.notify()
	return nil
}

// RetryAll makes the pending deliveries of every waiting message due now.
func (a *Admin) RetryAll(ctx context.Context) error {
	b := &pgx.Batch{}
	b.Queue(`UPDATE ownmx_queue_delivery SET due = $1 WHERE state = 'pending' AND lease IS NULL AND due > $1`, a.now())
	if err := a.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("queue/postgres: retrying all: %w", err)
	}
	a.notify()
	return nil
}

// Replay puts the dead letter id back in the queue: its dead deliveries
// are pending again, due now, with their backoff reset and a new lifetime
// from now; their Attempt.ID stays the same. Its done deliveries stay
// done.
func (a *Admin) Replay(ctx context.Context, id string) error {
	n, err := messageID(id)
	if err != nil {
		return err
	}
	now := a.now()
	var replayed int64
	b := &pgx.Batch{}
	b.Queue(`WITH m AS (
			UPDATE ownmx_queue_message SET dead = NULL, since = $2 WHERE id = $1 AND dead IS NOT NULL RETURNING id
		)
		UPDATE ownmx_queue_delivery SET state = 'pending', failures = 0, due = $2
		WHERE message IN (SELECT id FROM m) AND state = 'dead'`, n, now).Exec(func(tag pgconn.CommandTag) error {
		replayed = tag.RowsAffected()
		return nil
	})
	if err := a.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("queue/postgres: replaying %s: %w", id, err)
	}
	if replayed == 0 {
		return fmt.Errorf("%w: %s is not a dead letter", queue.ErrNotFound, id)
	}
	a.notify()
	return nil
}

// Delete removes the message id, waiting or dead, for good. A try of it
// in progress goes on, but its result is not recorded.
func (a *Admin) Delete(ctx context.Context, id string) error {
	n, err := messageID(id)
	if err != nil {
		return err
	}
	tag, err := a.pool.Exec(ctx, `DELETE FROM ownmx_queue_message WHERE id = $1`, n)
	if err != nil {
		return fmt.Errorf("queue/postgres: deleting %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %s", queue.ErrNotFound, id)
	}
	return nil
}
