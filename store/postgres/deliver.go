package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ownmx/ownmx/smtpd"
)

// pruneBatch is the most expired mail_dedup rows a delivery removes, so
// that the table holds about a window's worth of keys without a job of
// its own, and no delivery pays for a long backlog.
const pruneBatch = 100

// Deliver stores the message read from r, with an entry in the Inbox of
// each distinct mailbox among env.Rcpt (or in Junk when env.Quarantine is
// set), in one transaction, and returns nil only after its COMMIT. r is
// read once, a piece of ChunkSize bytes at a time, each piece sent to the
// database before the next is read; a connection is held from the end of
// the first piece, so give Deliver a spooled message (smtpd.Spool) rather
// than a slow client's stream when connections are few. An error from r
// or ctx, a recipient without a mailbox (see Mailbox) or a failure of the
// database rolls the transaction back and is returned, wrapped: nothing of
// the delivery is left.
//
// A message whose Message-ID and body are those of one stored within
// DedupWindow is a duplicate (see the package documentation): its bytes
// are not kept, the stored message gets an entry in each of the
// mailboxes that has none, and the log says "duplicate".
func (s *Store) Deliver(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
	if env == nil || len(env.Rcpt) == 0 {
		return errors.New("postgres: Deliver: the envelope has no recipients")
	}
	boxes, err := s.mailboxes(env.Rcpt)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("postgres: delivery to %s not started: %w", boxes[0], err)
	}
	d := &delivery{Store: s, env: env, boxes: boxes, now: s.now().UTC().Truncate(time.Microsecond)}
	if err := d.run(ctx, r); err != nil {
		return fmt.Errorf("postgres: delivery to %s: %w", strings.Join(boxes, ", "), err)
	}
	return nil
}

// delivery is the state of one Deliver.
type delivery struct {
	*Store
	env   *smtpd.Envelope
	boxes []string
	now   time.Time
}

// chunkPool holds the buffers that messages are read through.
var chunkPool = sync.Pool{New: func() any { b := make([]byte, ChunkSize); return &b }}

// run reads the first chunk before it takes a connection: most messages
// fit in it and go in with one statement, no COPY, and a client slow to
// send them holds no connection meanwhile.
//
// Round trips, for a message that fits: BEGIN, the INSERT, one batch for
// the key and the entries, COMMIT. Before batching, a 1 KiB delivery took
// nine, and half the rate measured by BenchmarkDeliver.
func (d *delivery) run(ctx context.Context, r io.Reader) error {
	bufp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bufp)
	src := &chunkSource{ctx: ctx, r: r, tee: newSplitter(maxHeaderBytes), buf: *bufp}
	if !src.fill() && src.err != nil {
		return fmt.Errorf("reading the message: %w", src.err)
	}

	conn, tx, err := d.begin(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	committed := false
	defer func() {
		if !committed {
			rollback(ctx, tx)
		}
	}()

	var id int64
	if src.eof {
		id, err = d.insertWhole(ctx, tx, src)
	} else {
		id, err = d.insertStream(ctx, tx, src)
	}
	if err != nil {
		return err
	}
	stored, added, err := d.file(ctx, tx, id, src)
	if err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	committed = true
	if stored != id {
		d.log.Info("duplicate", "envelope", d.env.ID, "message_id", src.head.messageID,
			"stored_as", stored, "new_entries", added, "mailboxes", len(d.boxes))
	}
	return nil
}

// insertWhole inserts a message that the first chunk holds whole, with
// that chunk (none when the message is empty), in one statement.
func (d *delivery) insertWhole(ctx context.Context, tx pgx.Tx, src *chunkSource) (int64, error) {
	src.head = readHeader(src.tee.header)
	var id int64
	err := tx.QueryRow(ctx,
		`WITH m AS (
		     INSERT INTO mail_messages (received, envelope_from, size, header_from, subject)
		     VALUES ($1, $2, $3, $4, $5) RETURNING id
		 ), c AS (
		     INSERT INTO mail_chunks (message, seq, data) SELECT id, 0, $6 FROM m WHERE $3 > 0
		 )
		 SELECT id FROM m`,
		d.now, cleanText(d.env.From), src.size, src.head.from, src.head.subject, src.buf[:src.n]).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("inserting the message: %w", err)
	}
	return id, nil
}

// insertStream inserts the message row, then its chunks with COPY as they
// are read, then what its header says and its size.
func (d *delivery) insertStream(ctx context.Context, tx pgx.Tx, src *chunkSource) (int64, error) {
	err := tx.QueryRow(ctx,
		`INSERT INTO mail_messages (received, envelope_from) VALUES ($1, $2) RETURNING id`,
		d.now, cleanText(d.env.From)).Scan(&src.message)
	if err != nil {
		return 0, fmt.Errorf("inserting the message: %w", err)
	}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"mail_chunks"}, []string{"message", "seq", "data"}, src)
	switch {
	case src.err != nil:
		return 0, fmt.Errorf("reading the message: %w", src.err)
	case ctx.Err() != nil:
		return 0, fmt.Errorf("writing the message: %w", ctx.Err())
	case err != nil:
		return 0, fmt.Errorf("writing the message: %w", err)
	}
	src.head = readHeader(src.tee.header)
	_, err = tx.Exec(ctx,
		`UPDATE mail_messages SET size = $2, header_from = $3, subject = $4 WHERE id = $1`,
		src.message, src.size, src.head.from, src.head.subject)
	if err != nil {
		return 0, fmt.Errorf("updating the message: %w", err)
	}
	return src.message, nil
}

// file gives the message id, just written, its mailbox entries; or, when a
// message stored within the window has its key, drops id and gives the
// entries to that one. It returns the message the entries refer to and
// how many it added, in one round trip (a batch).
//
// The key is claimed with INSERT ... ON CONFLICT on the primary key of
// mail_dedup: a claim of another host that has not committed yet makes it
// wait for that host's end, and a key older than the window is taken
// over. The statements after it find the key's message by reading the row
// back, which this transaction has inserted or locked.
func (d *delivery) file(ctx context.Context, tx pgx.Tx, id int64, src *chunkSource) (stored, added int64, err error) {
	stored = id
	target := `$1::bigint`
	args := []any{id, d.boxes, d.folder(), d.now}
	b := &pgx.Batch{}
	if sum, ok := src.tee.bodySum(); ok && src.head.messageID != "" && d.dedupWindow > 0 {
		b.Queue(`INSERT INTO mail_dedup AS d (message_id, body_sha256, message, received)
			VALUES ($1, $2, $3, $4)
			ON CONFLICT (message_id, body_sha256) DO UPDATE
			SET message  = CASE WHEN d.received < $5 THEN excluded.message ELSE d.message END,
			    received = CASE WHEN d.received < $5 THEN excluded.received ELSE d.received END
			RETURNING message`,
			src.head.messageID, sum, id, d.now, d.now.Add(-d.dedupWindow)).QueryRow(func(row pgx.Row) error {
			return row.Scan(&stored)
		})
		b.Queue(`DELETE FROM mail_messages WHERE id = $1
			AND id <> (SELECT message FROM mail_dedup WHERE message_id = $2 AND body_sha256 = $3)`,
			id, src.head.messageID, sum)
		b.Queue(`DELETE FROM mail_dedup WHERE ctid IN (
			SELECT ctid FROM mail_dedup WHERE received < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
			d.now.Add(-d.dedupWindow), pruneBatch)
		target = `COALESCE((SELECT message FROM mail_dedup WHERE message_id = $5 AND body_sha256 = $6), $1::bigint)`
		args = append(args, src.head.messageID, sum)
	}
	b.Queue(`INSERT INTO mail_entries (message, mailbox, folder, received)
		SELECT `+target+`, box, $3, $4 FROM unnest($2::text[]) AS box
		ON CONFLICT (message, mailbox) DO NOTHING`, args...).Exec(func(tag pgconn.CommandTag) error {
		added = tag.RowsAffected()
		return nil
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return 0, 0, fmt.Errorf("filing the message in its mailboxes: %w", err)
	}
	return stored, added, nil
}

// folder is where the delivery puts the message.
func (d *delivery) folder() string {
	if d.env.Quarantine {
		return Junk
	}
	return Inbox
}

// chunkSource reads a message a chunk at a time into one buffer, reused,
// writing each chunk to tee, and feeds COPY the rows of mail_chunks (pgx
// encodes each row before it asks for the next). As a CopyFromSource it
// runs on pgx's goroutine; its fields are read after CopyFrom returns,
// which waits for that goroutine.
type chunkSource struct {
	ctx     context.Context
	r       io.Reader
	tee     *splitter
	buf     []byte
	message int64
	row     [3]any
	n       int   // bytes in buf
	pending bool  // buf holds a chunk that Next has not returned yet
	seq     int32 // the chunk's number
	size    int64 // bytes read so far
	eof     bool
	err     error // from r or ctx
	head    summary
}

// fill reads the next chunk into buf and reports whether there is one.
func (c *chunkSource) fill() bool {
	if c.eof || c.err != nil {
		return false
	}
	if err := c.ctx.Err(); err != nil {
		c.err = err
		return false
	}
	n, err := io.ReadFull(c.r, c.buf)
	switch {
	case err == io.EOF:
		c.eof = true
		return false
	case err == io.ErrUnexpectedEOF:
		c.eof = true
	case err != nil:
		c.err = err
		return false
	}
	c.tee.Write(c.buf[:n])
	c.size += int64(n)
	c.n = n
	c.pending = true
	return true
}

// Next makes the next chunk the current row: first the one that fill read
// before COPY began, then one more per call.
func (c *chunkSource) Next() bool {
	if !c.pending {
		if !c.fill() {
			return false
		}
		c.seq++
	}
	c.pending = false
	c.row = [3]any{c.message, c.seq, c.buf[:c.n]}
	return true
}

func (c *chunkSource) Values() ([]any, error) { return c.row[:], nil }

func (c *chunkSource) Err() error { return c.err }
