package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Open returns the bytes of the message of entry id, as delivered. They are
// read a row of mail_chunks at a time, each with a query of its own under
// ctx, so that neither the message nor a connection is held between two
// Reads. A message deleted while it is read fails the next query for a
// piece with an error wrapping ErrNotFound; bytes are never mixed or cut
// without an error.
func (s *Store) Open(ctx context.Context, id int64) (io.ReadCloser, error) {
	var msg, size int64
	err := s.queryRow(ctx, func(row pgx.Row) error { return row.Scan(&msg, &size) },
		`SELECT m.id, m.size FROM mail_entries e JOIN mail_messages m ON m.id = e.message WHERE e.id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("postgres: opening message %d: %w", id, err)
	}
	return &messageReader{ctx: ctx, s: s, entry: id, message: msg, size: size}, nil
}

// queryRow runs a query of one row on a connection from the pool and
// scans it; no row is ErrNotFound.
func (s *Store) queryRow(ctx context.Context, scan func(pgx.Row) error, sql string, args ...any) error {
	err := s.withConn(ctx, func(conn *pgxpool.Conn) error {
		return scan(conn.QueryRow(ctx, sql, args...))
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// messageReader reads a message's chunks in order.
type messageReader struct {
	ctx     context.Context
	s       *Store
	entry   int64 // for errors
	message int64
	size    int64 // the bytes expected in all
	off     int64 // the bytes returned so far
	seq     int32 // the next chunk to fetch
	chunk   chunkBuf
	pos     int // in chunk
	closed  bool
}

// chunkBuf receives a chunk's bytes from pgx without an allocation of its
// own: pgx hands ScanBytes its read buffer, which is copied into b.
type chunkBuf struct{ b []byte }

func (c *chunkBuf) ScanBytes(v []byte) error {
	c.b = append(c.b[:0], v...)
	return nil
}

func (r *messageReader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, fmt.Errorf("postgres: message %d: read after Close", r.entry)
	}
	for r.pos == len(r.chunk.b) {
		if r.off == r.size {
			return 0, io.EOF
		}
		if err := r.fetch(); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.chunk.b[r.pos:])
	r.pos += n
	r.off += int64(n)
	return n, nil
}

// fetch reads the next chunk into r.chunk.
func (r *messageReader) fetch() error {
	err := r.s.queryRow(r.ctx, func(row pgx.Row) error { return row.Scan(&r.chunk) },
		`SELECT data FROM mail_chunks WHERE message = $1 AND seq = $2`, r.message, r.seq)
	if err != nil {
		return fmt.Errorf("postgres: reading message %d at byte %d: %w", r.entry, r.off, err)
	}
	if len(r.chunk.b) == 0 || r.off+int64(len(r.chunk.b)) > r.size {
		return fmt.Errorf("postgres: reading message %d: piece %d has %d bytes past byte %d of %d: the stored message is damaged",
			r.entry, r.seq, len(r.chunk.b), r.off, r.size)
	}
	r.seq++
	r.pos = 0
	return nil
}

// Close releases the reader's buffer. It never fails.
func (r *messageReader) Close() error {
	r.closed = true
	r.chunk.b = nil
	return nil
}

// MarkSeen marks entry id as seen, as a mail client does when the message is
// opened. It fails with an error wrapping ErrNotFound when there is no such
// entry.
func (s *Store) MarkSeen(ctx context.Context, id int64) error {
	if err := s.exec(ctx, `UPDATE mail_entries SET seen = true WHERE id = $1`, id); err != nil {
		return fmt.Errorf("postgres: marking message %d seen: %w", id, err)
	}
	return nil
}

// Move moves entry id to folder, Inbox or Junk: what a user does with
// "Not junk" and "Junk". The entry keeps its time, so it takes its place
// by date in the other folder. It fails with an error wrapping ErrNotFound
// when there is no such entry, or ErrUnknownFolder.
func (s *Store) Move(ctx context.Context, id int64, folder string) error {
	if err := checkFolder(folder); err != nil {
		return fmt.Errorf("postgres: moving message %d: %w", id, err)
	}
	if err := s.exec(ctx, `UPDATE mail_entries SET folder = $2 WHERE id = $1`, id, folder); err != nil {
		return fmt.Errorf("postgres: moving message %d to %s: %w", id, folder, err)
	}
	return nil
}

// exec runs an idempotent statement that changes one row; none is
// ErrNotFound.
func (s *Store) exec(ctx context.Context, sql string, args ...any) error {
	return s.withConn(ctx, func(conn *pgxpool.Conn) error {
		tag, err := conn.Exec(ctx, sql, args...)
		if err == nil && tag.RowsAffected() == 0 {
			err = ErrNotFound
		}
		return err
	})
}

// Delete deletes entry id from its mailbox, and the message's bytes once no
// mailbox's entry refers to them. It fails with an error wrapping
// ErrNotFound when there is no such entry.
func (s *Store) Delete(ctx context.Context, id int64) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("postgres: deleting message %d: %w", id, err)
		}
	}()
	conn, tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	defer rollback(ctx, tx) // after Commit, does nothing

	var msg int64
	err = tx.QueryRow(ctx, `DELETE FROM mail_entries WHERE id = $1 RETURNING message`, id).Scan(&msg)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	// The lock waits for a delivery that is adding an entry for this
	// message (a duplicate, in another mailbox) to end, or makes it wait;
	// the next statement then sees its entry if it committed. The foreign
	// key of mail_entries guards the rest: a race it does not see fails
	// rather than drop an entry.
	if _, err := tx.Exec(ctx, `SELECT 1 FROM mail_messages WHERE id = $1 FOR UPDATE`, msg); err != nil {
		return err
	}
	_, err = tx.Exec(ctx,
		`DELETE FROM mail_messages m WHERE m.id = $1
		 AND NOT EXISTS (SELECT 1 FROM mail_entries e WHERE e.message = m.id)`, msg)
	if err != nil {
		return err
	}
	return tx.Commit(ctx)
}
