package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

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
// database before the next is read; a connection is held meanwhile, so
// give Deliver a spooled message (smtpd.Spool) rather than a slow client's
// stream when connections are few. An error from r or ctx, a recipient
// without a mailbox (see Mailbox) or a failure of the database rolls the
// transaction back and is returned, wrapped: nothing of the delivery is
// left.
//
// A message whose Message-ID and body are those of one stored within
// DedupWindow is a duplicate (see the package documentation): its bytes
// are not stored again, the stored message gets an entry in each of the
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

func (d *delivery) run(ctx context.Context, r io.Reader) error {
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
	err = tx.QueryRow(ctx,
		`INSERT INTO mail_messages (received, envelope_from) VALUES ($1, $2) RETURNING id`,
		d.now, cleanText(d.env.From)).Scan(&id)
	if err != nil {
		return fmt.Errorf("inserting the message: %w", err)
	}
	split := newSplitter(maxHeaderBytes)
	src := &chunkSource{ctx: ctx, r: r, tee: split, message: id, buf: make([]byte, ChunkSize)}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"mail_chunks"}, []string{"message", "seq", "data"}, src)
	switch {
	case src.err != nil:
		return fmt.Errorf("reading the message: %w", src.err)
	case ctx.Err() != nil:
		return fmt.Errorf("writing the message: %w", ctx.Err())
	case err != nil:
		return fmt.Errorf("writing the message: %w", err)
	}

	head := readHeader(split.header)
	_, err = tx.Exec(ctx,
		`UPDATE mail_messages SET size = $2, header_from = $3, subject = $4 WHERE id = $1`,
		id, src.size, head.from, head.subject)
	if err != nil {
		return fmt.Errorf("updating the message: %w", err)
	}

	target := id
	if sum, ok := split.bodySum(); ok && head.messageID != "" && d.dedupWindow > 0 {
		target, err = d.dedup(ctx, tx, id, head.messageID, sum)
		if err != nil {
			return err
		}
	}

	tag, err := tx.Exec(ctx,
		`INSERT INTO mail_entries (message, mailbox, folder, received)
		 SELECT $1, box, $3, $4 FROM unnest($2::text[]) AS box
		 ON CONFLICT (message, mailbox) DO NOTHING`,
		target, d.boxes, d.folder(), d.now)
	if err != nil {
		return fmt.Errorf("inserting the mailbox entries: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	committed = true
	if target != id {
		d.log.Info("duplicate", "envelope", d.env.ID, "message_id", head.messageID,
			"stored_as", target, "new_entries", tag.RowsAffected(), "mailboxes", len(d.boxes))
	}
	return nil
}

// folder is where the delivery puts the message.
func (d *delivery) folder() string {
	if d.env.Quarantine {
		return Junk
	}
	return Inbox
}

// dedup claims the key (messageID, sum) for the message id, just written,
// and returns id; or, when a message stored within the window holds the
// key, deletes id (its bytes go with it) and returns that message. A
// claim of another host that has not committed yet makes the INSERT wait
// for its end. A key older than the window is taken over.
func (d *delivery) dedup(ctx context.Context, tx pgx.Tx, id int64, messageID string, sum []byte) (int64, error) {
	var stored int64
	err := tx.QueryRow(ctx,
		`INSERT INTO mail_dedup AS d (message_id, body_sha256, message, received)
		 VALUES ($1, $2, $3, $4)
		 ON CONFLICT (message_id, body_sha256) DO UPDATE
		 SET message  = CASE WHEN d.received < $5 THEN excluded.message ELSE d.message END,
		     received = CASE WHEN d.received < $5 THEN excluded.received ELSE d.received END
		 RETURNING message`,
		messageID, sum, id, d.now, d.now.Add(-d.dedupWindow)).Scan(&stored)
	if err != nil {
		return 0, fmt.Errorf("looking up the message's key: %w", err)
	}
	if stored != id {
		if _, err := tx.Exec(ctx, `DELETE FROM mail_messages WHERE id = $1`, id); err != nil {
			return 0, fmt.Errorf("dropping the duplicate: %w", err)
		}
		return stored, nil
	}
	_, err = tx.Exec(ctx,
		`DELETE FROM mail_dedup WHERE ctid IN (
		     SELECT ctid FROM mail_dedup WHERE received < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
		d.now.Add(-d.dedupWindow), pruneBatch)
	if err != nil {
		return 0, fmt.Errorf("pruning expired keys: %w", err)
	}
	return id, nil
}

// chunkSource feeds COPY the rows of mail_chunks, reading r a piece at a
// time into one buffer, reused: pgx encodes each row before asking for the
// next. It runs on pgx's goroutine; its fields are read after CopyFrom
// returns, which waits for that goroutine.
type chunkSource struct {
	ctx     context.Context
	r       io.Reader
	tee     io.Writer
	message int64
	buf     []byte
	row     [3]any
	seq     int32
	size    int64
	eof     bool
	err     error // from r or ctx
}

func (c *chunkSource) Next() bool {
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
	c.row = [3]any{c.message, c.seq, c.buf[:n]}
	c.seq++
	return true
}

func (c *chunkSource) Values() ([]any, error) { return c.row[:], nil }

func (c *chunkSource) Err() error { return c.err }
