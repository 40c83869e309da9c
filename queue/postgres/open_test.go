package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ownmx/ownmx/internal/pgtest"
	"github.com/ownmx/ownmx/queue"
	"github.com/ownmx/ownmx/queue/queuetest"
	"github.com/ownmx/ownmx/route"
)

// A Queue is what the DATA handler commits through, and what the suite
// drives.
var (
	_ route.Committer = (*Queue)(nil)
	_ queuetest.Queue = (*Queue)(nil)
	_ queuetest.Admin = (*Admin)(nil)
)

// connect opens a plain connection to url for the test to look at the
// tables with.
func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// count returns the number of rows of table.
func count(t *testing.T, conn *pgx.Conn, table string) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Queues opened at once on a new database make the schema once, under
// tern's advisory lock, and keep its version in a table of their own: a
// tern version table of another user of the database (named as tern
// names it by default) is left alone.
func TestOpenMigrates(t *testing.T) {
	url := pgtest.Shared(t)
	conn := connect(t, url)
	if _, err := conn.Exec(t.Context(), `CREATE TABLE schema_version (version int4 NOT NULL); INSERT INTO schema_version VALUES (7)`); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			q, err := Open(t.Context(), url, &Options{Options: queue.Options{Logger: quiet}})
			if err != nil {
				t.Error(err)
				return
			}
			q.Close()
		})
	}
	wg.Wait()
	var own, other int
	if err := conn.QueryRow(t.Context(), `SELECT (SELECT version FROM ownmx_queue_schema_version), (SELECT version FROM schema_version)`).Scan(&own, &other); err != nil {
		t.Fatal(err)
	}
	if own != 1 || other != 7 {
		t.Errorf("versions: the queue's %d (want 1), the other user's %d (want 7, untouched)", own, other)
	}
	if _, err := Open(t.Context(), "postgres://[::1", nil); err == nil {
		t.Error("Open of a malformed URL succeeded")
	}
	if _, err := Open(t.Context(), url, &Options{Lease: -1}); err == nil {
		t.Error("Open with a negative Lease succeeded")
	}
}

// failingReader gives n bytes, then fails.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("connection reset by the client")
	}
	k := min(len(p), f.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	f.n -= k
	return k, nil
}

// An Add whose message cannot be read to its end (the client went away
// after several chunks), or whose context ends, leaves nothing: no
// message, no chunk, no delivery.
func TestAddFailureLeavesNothing(t *testing.T) {
	url := pgtest.Shared(t)
	q := open(t, url, nil)
	conn := connect(t, url)
	ds := []queue.Delivery{{Action: "inbox"}}
	for _, size := range []int{0, 10, chunkSize, 3*chunkSize + 5} {
		if _, err := q.Add(t.Context(), &queue.Envelope{}, ds, &failingReader{size}); err == nil {
			t.Errorf("Add of a body failing after %d bytes succeeded", size)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := q.Add(ctx, &queue.Envelope{}, ds, strings.NewReader("x")); err == nil {
		t.Error("Add with a cancelled context succeeded")
	}
	for _, table := range []string{"ownmx_queue_message", "ownmx_queue_chunk", "ownmx_queue_delivery"} {
		if n := count(t, conn, table); n != 0 {
			t.Errorf("%s holds %d rows after failed Adds", table, n)
		}
	}
}

// A message of several MiB is stored in chunks of chunkSize and read back
// whole, byte for byte, by a try.
func TestLargeMessage(t *testing.T) {
	const size = 5<<20 + 123
	url := pgtest.Shared(t)
	q := open(t, url, nil)
	body := io.LimitReader(&pattern{}, size)
	want := sha256.New()
	id, err := q.Add(t.Context(), &queue.Envelope{}, []queue.Delivery{{Action: "inbox"}}, io.TeeReader(body, want))
	if err != nil {
		t.Fatal(err)
	}
	conn := connect(t, url)
	if n, chunks := count(t, conn, "ownmx_queue_chunk"), (size+chunkSize-1)/chunkSize; n != chunks {
		t.Errorf("%d chunks stored, want %d", n, chunks)
	}
	got := make(chan []byte, 1)
	rec := records(q)
	run(t, q, queue.RunnerFunc(func(ctx context.Context, m *queue.Message, a *queue.Attempt) error {
		h := sha256.New()
		n, err := io.Copy(h, m.Body)
		if err != nil || n != size {
			return queue.Permanent(errors.New("short read"))
		}
		got <- h.Sum(nil)
		return nil
	}))
	select {
	case sum := <-got:
		if string(sum) != string(want.Sum(nil)) {
			t.Error("the message read back differs from the one added")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the message was not read back whole within 20s")
	}
	if r := nextRecord(t, rec); r != (recordedTry{id + ".0", true}) {
		t.Errorf("recorded %+v", r)
	}
	if n := count(t, conn, "ownmx_queue_chunk"); n != 0 {
		t.Errorf("%d chunks left after the message was done", n)
	}
}

// pattern reads as an endless run of varied bytes.
type pattern struct{ i byte }

func (p *pattern) Read(b []byte) (int, error) {
	for k := range b {
		b[k] = p.i
		p.i = p.i*7 + 13
	}
	return len(b), nil
}
