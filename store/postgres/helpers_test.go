package postgres_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ownmx/ownmx/internal/pgtest"
	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/store/postgres"
)

// newStore opens a Store on a fresh database of the shared cluster, and
// returns it with the database's URL.
func newStore(t testing.TB, opts *postgres.Options) (*postgres.Store, string) {
	t.Helper()
	url := pgtest.Shared(t)
	return openStore(t, url, opts), url
}

// openStore opens a Store on url, closed at the test's cleanup.
func openStore(t testing.TB, url string, opts *postgres.Options) *postgres.Store {
	t.Helper()
	if opts == nil {
		opts = &postgres.Options{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := postgres.Open(t.Context(), url, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// sqlDB connects to url for the test's own queries.
func sqlDB(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	db, err := pgxpool.New(t.Context(), url)
	if err != nil {
		t.Fatalf("connecting to %s: %v", url, err)
	}
	t.Cleanup(db.Close)
	return db
}

// count returns the result of a query of one number.
func count(t testing.TB, db *pgxpool.Pool, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func env(rcpt ...string) *smtpd.Envelope {
	if len(rcpt) == 0 {
		rcpt = []string{"rcpt@example.com"}
	}
	return &smtpd.Envelope{ID: "test", From: "sender@example.org", Rcpt: rcpt}
}

// deliver delivers body or fails the test.
func deliver(t testing.TB, s *postgres.Store, e *smtpd.Envelope, body []byte) {
	t.Helper()
	if err := s.Deliver(t.Context(), e, oneShot(bytes.NewReader(body))); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
}

// list returns a whole folder, or fails the test.
func list(t testing.TB, s *postgres.Store, mailbox, folder string) []postgres.Summary {
	t.Helper()
	sums, _, err := s.List(t.Context(), mailbox, folder, postgres.Page{Size: -1})
	if err != nil {
		t.Fatalf("List(%s, %s): %v", mailbox, folder, err)
	}
	return sums
}

// read returns the bytes of entry id, or fails the test.
func read(t testing.TB, s *postgres.Store, id int64) []byte {
	t.Helper()
	rc, err := s.Open(t.Context(), id)
	if err != nil {
		t.Fatalf("Open(%d): %v", id, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading message %d: %v", id, err)
	}
	return b
}

// oneShot hides every method of r but Read: Deliver gets a stream.
func oneShot(r io.Reader) io.Reader { return struct{ io.Reader }{r} }

// patternReader yields n bytes of a pattern with every byte value in it,
// without holding them.
type patternReader struct{ n, off int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	k := int(min(int64(len(p)), r.n-r.off))
	for i := range p[:k] {
		x := r.off + int64(i)
		p[i] = byte(x ^ x>>8 ^ x>>16)
	}
	r.off += int64(k)
	return k, nil
}

func patternSum(n int64) [32]byte {
	h := sha256.New()
	io.Copy(h, &patternReader{n: n})
	return [32]byte(h.Sum(nil))
}

// logBuffer is an io.Writer for a slog handler that tests read while
// deliveries write.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// gate is a reader that yields head, then blocks until released (or ctx
// is done), then yields tail. reached is closed when it blocks.
type gate struct {
	head, tail []byte
	reached    chan struct{}
	release    chan struct{}
	ctx        context.Context
	state      int
}

func newGate(ctx context.Context, head, tail []byte) *gate {
	return &gate{head: head, tail: tail, reached: make(chan struct{}), release: make(chan struct{}), ctx: ctx}
}

func (g *gate) Read(p []byte) (int, error) {
	switch g.state {
	case 0:
		if len(g.head) > 0 {
			n := copy(p, g.head)
			g.head = g.head[n:]
			return n, nil
		}
		g.state = 1
		close(g.reached)
		select {
		case <-g.release:
		case <-g.ctx.Done():
			return 0, g.ctx.Err()
		}
		fallthrough
	default:
		if len(g.tail) == 0 {
			return 0, io.EOF
		}
		n := copy(p, g.tail)
		g.tail = g.tail[n:]
		return n, nil
	}
}
