package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"

	"github.com/ownmx/ownmx/queue"
)

// chunkSize is the size of the pieces a message is stored in: an Add
// holds one piece in memory at a time, and a try reads one at a time.
const chunkSize = 64 << 10

// The statements of Add. The message's ID comes from the sequence once,
// and the rows after it take it back with currval, in the same session.
const (
	insertMessage = `INSERT INTO ownmx_queue_message (id, committed, since, envelope, size)
		VALUES (nextval('ownmx_queue_message_id'), $1, $1, $2, $3) RETURNING id`
	insertChunk = `INSERT INTO ownmx_queue_chunk (message, seq, data)
		VALUES (currval('ownmx_queue_message_id'), $1, $2)`
	insertDeliveries = `INSERT INTO ownmx_queue_delivery (message, idx, action, rcpt, due)
		SELECT currval('ownmx_queue_message_id'), (n - 1)::integer, d->>'action', coalesce(d->'rcpt', '[]'), $2
		FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS t(d, n)`
)

// Add commits a message with its deliveries in one transaction and
// returns its ID once PostgreSQL has committed it: the envelope, the
// message in chunks and one row per delivery; a notification then wakes
// the idle workers of every host. The caller may then answer 250.
// On error, a cancelled ctx included, the transaction is rolled back and
// nothing is left; only a connection lost while the COMMIT was under way
// leaves it unknown whether the message was committed (it is then
// delivered, though the client was told to try again).
//
// The message is streamed from body, one chunk (64 KiB) at a time, never
// held whole in memory. env.Received is set to the time of the commit
// when it is zero.
func (q *Queue) Add(ctx context.Context, env *queue.Envelope, deliveries []queue.Delivery, body io.Reader) (string, error) {
	if len(deliveries) == 0 {
		return "", errors.New("queue/postgres: Add with no delivery")
	}
	if q.isClosed() {
		return "", queue.ErrClosed
	}
	now := q.now()
	var e queue.Envelope
	if env != nil {
		e = *env
	}
	if e.Received.IsZero() {
		e.Received = now
	}
	envJSON, err := json.Marshal(&e)
	if err != nil {
		return "", fmt.Errorf("queue/postgres: encoding the envelope: %w", err)
	}
	dsJSON, err := json.Marshal(deliveries)
	if err != nil {
		return "", fmt.Errorf("queue/postgres: encoding the deliveries: %w", err)
	}

	buf := make([]byte, chunkSize)
	r := ctxReader{ctx, body}
	n, last, err := readChunk(r, buf)
	if err != nil {
		return "", err
	}
	var id int64
	if last {
		// The whole message fits in a chunk, as most do: one round trip,
		// in the implicit transaction of a batch.
		b := &pgx.Batch{}
		b.Queue(insertMessage, now, envJSON, int64(n)).QueryRow(func(row pgx.Row) error { return row.Scan(&id) })
		if n > 0 {
			b.Queue(insertChunk, 0, buf[:n])
		}
		b.Queue(insertDeliveries, dsJSON, now)
		if err := q.pool.SendBatch(ctx, b).Close(); err != nil {
			return "", fmt.Errorf("queue/postgres: committing a message: %w", err)
		}
		q.added()
		return formatID(id), nil
	}

	tx, err := q.pool.Begin(ctx)
	if err != nil {
		return "", fmt.Errorf("queue/postgres: committing a message: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := tx.QueryRow(ctx, insertMessage, now, envJSON, int64(0)).Scan(&id); err != nil {
		return "", fmt.Errorf("queue/postgres: committing a message: %w", err)
	}
	size := int64(0)
	for seq := 0; ; seq++ {
		if n > 0 {
			if _, err := tx.Exec(ctx, insertChunk, seq, buf[:n]); err != nil {
				return "", fmt.Errorf("queue/postgres: committing a message: storing chunk %d: %w", seq, err)
			}
		}
		size += int64(n)
		if last {
			break
		}
		if n, last, err = readChunk(r, buf); err != nil {
			return "", err
		}
	}
	b := &pgx.Batch{}
	b.Queue(`UPDATE ownmx_queue_message SET size = $2 WHERE id = $1`, id, size)
	b.Queue(insertDeliveries, dsJSON, now)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return "", fmt.Errorf("queue/postgres: committing a message: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return "", fmt.Errorf("queue/postgres: committing a message: %w", err)
	}
	q.added()
	return formatID(id), nil
}

// added wakes this Queue's Run and, through a notification, those of the
// other Queues, once a message is committed.
func (q *Queue) added() {
	q.wake()
	q.notifyLater()
}

// readChunk fills buf from r, and reports how much it read and whether r
// ended.
func readChunk(r io.Reader, buf []byte) (n int, last bool, err error) {
	n, err = io.ReadFull(r, buf)
	switch {
	case err == nil:
		return n, false, nil
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return n, true, nil
	default:
		return n, false, fmt.Errorf("queue/postgres: reading the message: %w", err)
	}
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
