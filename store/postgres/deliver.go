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
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ownmx/ownmx/smtpd"
)

// Every pruneEvery-th delivery of a Store also removes up to pruneBatch
// keys of mail_dedup older than the window, the oldest first: the table
// holds about a window's worth of keys with no job of its own, a backlog
// drains four times as fast as keys come, and no delivery pays for a long
// one. Not every delivery: the statement is one more for PostgreSQL to run
// (a third of its CPU per message when each delivery ran it), and while
// the table is new its cached plan is a sequential scan.
const (
	pruneEvery = 64
	pruneBatch = 4 * pruneEvery
)

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
// fit in it and go in with one round trip (storeWhole), and a client slow
// to send them holds no connection meanwhile. A longer message is written
// as it is read, in a transaction of its own (storeStream).
func (d *delivery) run(ctx context.Context, r io.Reader) error {
	bufp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bufp)
	src := &chunkSource{ctx: ctx, r: r, tee: newSplitter(maxHeaderBytes), buf: *bufp}
	if !src.fill() && src.err != nil {
		return fmt.Errorf("reading the message: %w", src.err)
	}
	var (
		id, stored, added int64
		err               error
	)
	if src.eof {
		id, stored, added, err = d.storeWhole(ctx, src)
	} else {
		id, stored, added, err = d.storeStream(ctx, src)
	}
	if err != nil {
		return err
	}
	if stored != id {
		d.log.Info("duplicate", "envelope", d.env.ID, "message_id", src.head.messageID,
			"stored_as", stored, "new_entries", added, "mailboxes", len(d.boxes))
	}
	return nil
}

// lastMessage is, in SQL, the id of the message this session inserted
// last: the statements that follow its INSERT, in the same transaction
// on the same connection, name it so, which lets them go in one batch.
// currval is volatile, and a condition on a volatile function is checked
// row by row: the subquery makes it one value, which an index can look up.
const lastMessage = `(SELECT currval(pg_get_serial_sequence('mail_messages', 'id')))`

// storeWhole stores a message that the first chunk holds whole, with its
// entries, in one batch: one round trip, and the batch's statements are
// one implicit transaction that commits when the last one is done or
// rolls back with the first that fails. A batch that fails on a
// connection the server closed since its last use (the server restarted)
// is sent once more on a new one. Had the server gone away between the
// batch's commit and its reply, the second send stores a second copy:
// one message when it has a Message-ID (the dedup key), as when a sender
// retries after a 451.
//
// Before this, a 1 KiB delivery took four round trips (BEGIN, the
// INSERT, a batch, COMMIT), and PostgreSQL spent as much CPU waking up
// for them as running the statements.
func (d *delivery) storeWhole(ctx context.Context, src *chunkSource) (id, stored, added int64, err error) {
	src.head = readHeader(src.tee.header)
	err = d.withConn(ctx, func(conn *pgxpool.Conn) error {
		// A batch once sent keeps the prepared statements of its
		// connection: each try builds its own.
		b := &pgx.Batch{}
		b.Queue(`WITH m AS (
			     INSERT INTO mail_messages (received, envelope_from, size, header_from, subject)
			     VALUES ($1, $2, $3, $4, $5) RETURNING id
			 ), c AS (
			     INSERT INTO mail_chunks (message, seq, data) SELECT id, 0, $6 FROM m WHERE $3 > 0
			 )
			 SELECT id FROM m`,
			d.now, cleanText(d.env.From), src.size, src.head.from, src.head.subject, src.buf[:src.n]).QueryRow(func(row pgx.Row) error {
			return row.Scan(&id)
		})
		d.queueFiling(b, src, &stored, &added)
		return conn.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return 0, 0, 0, fmt.Errorf("storing the message: %w", err)
	}
	return id, stored, added, nil
}

// storeStream stores a message longer than a chunk in a transaction: the
// message row, then its chunks with COPY as they are read, then what its
// header says and its size, then its entries.
func (d *delivery) storeStream(ctx context.Context, src *chunkSource) (id, stored, added int64, err error) {
	conn, tx, err := d.begin(ctx)
	if err != nil {
		return 0, 0, 0, err
	}
	defer conn.Release()
	committed := false
	defer func() {
		if !committed {
			rollback(ctx, tx)
		}
	}()

	err = tx.QueryRow(ctx,
		`INSERT INTO mail_messages (received, envelope_from) VALUES ($1, $2) RETURNING id`,
		d.now, cleanText(d.env.From)).Scan(&src.message)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("inserting the message: %w", err)
	}
	id = src.message
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"mail_chunks"}, []string{"message", "seq", "data"}, src)
	switch {
	case src.err != nil:
		return 0, 0, 0, fmt.Errorf("reading the message: %w", src.err)
	case ctx.Err() != nil:
		return 0, 0, 0, fmt.Errorf("writing the message: %w", ctx.Err())
	case err != nil:
		return 0, 0, 0, fmt.Errorf("writing the message: %w", err)
	}
	src.head = readHeader(src.tee.header)
	b := &pgx.Batch{}
	b.Queue(`UPDATE mail_messages SET size = $2, header_from = $3, subject = $4 WHERE id = $1`,
		id, src.size, src.head.from, src.head.subject)
	d.queueFiling(b, src, &stored, &added)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return 0, 0, 0, fmt.Errorf("filing the message in its mailboxes: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, 0, 0, fmt.Errorf("committing: %w", err)
	}
	committed = true
	return id, stored, added, nil
}

// queueFiling queues on b the statements that give the message this
// session inserted last (lastMessage) its mailbox entries; or, when a
// message stored within the window has its key, drop it and give the
// entries to that one. The batch sets *stored to the message the entries
// refer to and *added to how many it added.
//
// The key is claimed with INSERT ... ON CONFLICT on the primary key of
// mail_dedup: a claim of another host that has not committed yet makes it
// wait for that host's end, and a key older than the window is taken
// over. The statements after it find the key's message by reading the row
// back, which this transaction has inserted or locked. Some deliveries
// also delete keys older than the window (see pruneEvery), by an index
// scan that stops at the first key still in the window.
func (d *delivery) queueFiling(b *pgx.Batch, src *chunkSource, stored, added *int64) {
	entries := func(target string, args ...any) {
		b.Queue(`INSERT INTO mail_entries (message, mailbox, folder, received)
			SELECT `+target+`, box, $2, $3 FROM unnest($1::text[]) AS box
			ON CONFLICT (message, mailbox) DO NOTHING`,
			append([]any{d.boxes, d.folder(), d.now}, args...)...).Exec(func(tag pgconn.CommandTag) error {
			*added = tag.RowsAffected()
			return nil
		})
	}
	sum, ok := src.tee.bodySum()
	if !ok || src.head.messageID == "" || d.dedupWindow <= 0 {
		b.Queue(`SELECT ` + lastMessage).QueryRow(func(row pgx.Row) error { return row.Scan(stored) })
		entries(lastMessage)
		return
	}
	cut := d.now.Add(-d.dedupWindow)
	b.Queue(`INSERT INTO mail_dedup AS d (message_id, body_sha256, message, received)
		VALUES ($1, $2, `+lastMessage+`, $3)
		ON CONFLICT (message_id, body_sha256) DO UPDATE
		SET message  = CASE WHEN d.received < $4 THEN excluded.message ELSE d.message END,
		    received = CASE WHEN d.received < $4 THEN excluded.received ELSE d.received END
		RETURNING message`,
		src.head.messageID, sum, d.now, cut).QueryRow(func(row pgx.Row) error {
		return row.Scan(stored)
	})
	b.Queue(`DELETE FROM mail_messages WHERE id = `+lastMessage+`
		AND id <> (SELECT message FROM mail_dedup WHERE message_id = $1 AND body_sha256 = $2)`,
		src.head.messageID, sum)
	if d.deliveries.Add(1)%pruneEvery == 0 {
		b.Queue(`DELETE FROM mail_dedup WHERE ctid = ANY(ARRAY(
			SELECT ctid FROM mail_dedup WHERE received < $1 ORDER BY received
			LIMIT $2 FOR UPDATE SKIP LOCKED))`, cut, pruneBatch)
	}
	// The claim above makes the key's row name the message to file.
	entries(`(SELECT message FROM mail_dedup WHERE message_id = $4 AND body_sha256 = $5)`, src.head.messageID, sum)
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
