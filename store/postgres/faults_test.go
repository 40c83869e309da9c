package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ownmx/ownmx/internal/pgtest"
	"github.com/ownmx/ownmx/store/postgres"
)

// TestServerDown stops PostgreSQL under an open Store: deliveries fail at
// once, not at the end of their time, and store nothing; once the server
// is back, the same Store delivers again.
func TestServerDown(t *testing.T) {
	srv := pgtest.Start(t)
	url := srv.CreateDatabase(t)
	s := openStore(t, url, &postgres.Options{MaxConns: 4})
	// Fill the pool with idle connections, which the stop breaks.
	for i := range 4 {
		deliver(t, s, env(), fmt.Appendf(nil, "Subject: before %d\r\n\r\n", i))
	}
	srv.Stop(t)
	for i := range 6 {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		err := s.Deliver(ctx, env(), oneShot(&patternReader{n: 1000}))
		cancel()
		if err == nil {
			t.Fatalf("delivery %d with the server down succeeded", i)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("delivery %d with the server down ran out of time rather than fail: %v", i, err)
		}
	}
	srv.Restart(t)
	deliver(t, s, env(), []byte("Subject: after\r\n\r\n"))
	got := subjects(list(t, s, "rcpt@example.com", postgres.Inbox))
	if want := []string{"after", "before 3", "before 2", "before 1", "before 0"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the inbox holds %q, want %q", got, want)
	}
}

// TestServerRestart restarts PostgreSQL under an open Store whose pool
// holds a connection from before: each call after the restart, the first
// to use that dead connection, succeeds.
func TestServerRestart(t *testing.T) {
	srv := pgtest.Start(t)
	s := openStore(t, srv.CreateDatabase(t), nil)
	deliver(t, s, env(), []byte("Subject: first\r\n\r\nbody\r\n"))
	id := list(t, s, "rcpt@example.com", postgres.Inbox)[0].ID
	for _, op := range []struct {
		name string
		call func() error
	}{
		{"Deliver", func() error { return s.Deliver(t.Context(), env(), strings.NewReader("Subject: second\r\n\r\n")) }},
		{"List", func() error {
			_, _, err := s.List(t.Context(), "rcpt@example.com", postgres.Inbox, postgres.Page{})
			return err
		}},
		{"Open", func() error {
			rc, err := s.Open(t.Context(), id)
			if err == nil {
				rc.Close()
			}
			return err
		}},
		{"MarkSeen", func() error { return s.MarkSeen(t.Context(), id) }},
		{"Move", func() error { return s.Move(t.Context(), id, postgres.Junk) }},
		{"Delete", func() error { return s.Delete(t.Context(), id) }},
	} {
		srv.Stop(t)
		srv.Restart(t)
		if err := op.call(); err != nil {
			t.Errorf("%s, the first call after a restart: %v", op.name, err)
		}
	}
	if got := subjects(list(t, s, "rcpt@example.com", postgres.Inbox)); fmt.Sprint(got) != "[second]" {
		t.Errorf("the inbox holds %q, want [second]", got)
	}
}

// TestOpenUnresponsive opens a Store on a server that accepts connections
// and never answers: Open fails at AcquireTimeout, though ctx has no
// deadline.
func TestOpenUnresponsive(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	defer func() {
		l.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	}()
	url := fmt.Sprintf("postgres://mail@%s/mail?sslmode=disable", l.Addr())
	s, err := postgres.Open(t.Context(), url, &postgres.Options{AcquireTimeout: 300 * time.Millisecond})
	if err == nil {
		s.Close()
		t.Fatalf("Open on a server that never answers succeeded")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Open on a server that never answers: err = %v, want one wrapping context.DeadlineExceeded", err)
	}
}

// TestServerStopsMidDelivery stops PostgreSQL while a message is being
// written: the delivery fails and leaves nothing behind.
func TestServerStopsMidDelivery(t *testing.T) {
	srv := pgtest.Start(t)
	url := srv.CreateDatabase(t)
	s := openStore(t, url, nil)
	deliver(t, s, env(), []byte("Subject: kept\r\n\r\n"))

	g := newGate(t.Context(), make([]byte, postgres.ChunkSize+1000), make([]byte, 1000))
	done := make(chan error, 1)
	go func() { done <- s.Deliver(t.Context(), env(), g) }()
	<-g.reached // a chunk is written, the transaction open
	srv.Stop(t)
	close(g.release)
	if err := <-done; err == nil {
		t.Fatalf("a delivery whose server stopped midway succeeded")
	}
	srv.Restart(t)
	db := sqlDB(t, url)
	if m, c, e := count(t, db, `SELECT count(*) FROM mail_messages`), count(t, db, `SELECT count(*) FROM mail_chunks`),
		count(t, db, `SELECT count(*) FROM mail_entries`); m != 1 || c != 1 || e != 1 {
		t.Errorf("after the failed delivery the database holds %d messages, %d chunks, %d entries; want 1, 1, 1 (the earlier one)", m, c, e)
	}
}

// TestDurable kills PostgreSQL (SIGKILL, as a crash) right after
// deliveries returned: every one of them is there after recovery.
func TestDurable(t *testing.T) {
	srv := pgtest.Start(t)
	url := srv.CreateDatabase(t)
	s := openStore(t, url, nil)
	const n = 20
	for i := range n {
		deliver(t, s, env(), fmt.Appendf(nil, "Subject: m%02d\r\n\r\n", i))
	}
	srv.Kill(t)
	srv.Restart(t)
	if got := len(list(t, s, "rcpt@example.com", postgres.Inbox)); got != n {
		t.Errorf("after a crash the inbox holds %d of the %d messages delivered", got, n)
	}
}

// TestPoolExhausted holds the only connection of the pool with a delivery
// that waits for its client: another delivery waits for the connection
// until its deadline (ctx's, or AcquireTimeout when ctx has none), then
// fails; once the connection is free, both go through.
func TestPoolExhausted(t *testing.T) {
	for _, tc := range []struct {
		name       string
		acquire    time.Duration
		ctxTimeout time.Duration
	}{
		{"ctx deadline", -1, 300 * time.Millisecond},
		{"AcquireTimeout", 300 * time.Millisecond, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t, &postgres.Options{MaxConns: 1, AcquireTimeout: tc.acquire})
			// Past the first chunk, which is read before a connection is
			// taken: the delivery waits for its client in the middle of COPY.
			head := append([]byte("Subject: slow\r\n\r\n"), make([]byte, postgres.ChunkSize)...)
			g := newGate(t.Context(), head, []byte("body\r\n"))
			done := make(chan error, 1)
			go func() { done <- s.Deliver(t.Context(), env(), g) }()
			<-g.reached

			ctx := t.Context()
			if tc.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.ctxTimeout)
				defer cancel()
			}
			err := s.Deliver(ctx, env(), oneShot(&patternReader{n: 100}))
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Deliver with the pool exhausted: err = %v, want one wrapping context.DeadlineExceeded", err)
			}
			close(g.release)
			if err := <-done; err != nil {
				t.Fatalf("the slow delivery: %v", err)
			}
			deliver(t, s, env(), []byte("Subject: next\r\n\r\n"))
			if got := subjects(list(t, s, "rcpt@example.com", postgres.Inbox)); fmt.Sprint(got) != "[next slow]" {
				t.Errorf("the inbox holds %q, want [next slow]", got)
			}
		})
	}
}

// TestSlowFirstChunk checks that a delivery whose client is slow to send
// the first chunk holds no connection: with a pool of one, another
// delivery goes through meanwhile.
func TestSlowFirstChunk(t *testing.T) {
	s, _ := newStore(t, &postgres.Options{MaxConns: 1, AcquireTimeout: -1})
	g := newGate(t.Context(), []byte("Subject: slow\r\n\r\n"), []byte("body\r\n"))
	done := make(chan error, 1)
	go func() { done <- s.Deliver(t.Context(), env(), g) }()
	<-g.reached
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := s.Deliver(ctx, env(), strings.NewReader("Subject: quick\r\n\r\n")); err != nil {
		t.Errorf("Deliver while another waits for its first chunk: %v", err)
	}
	close(g.release)
	if err := <-done; err != nil {
		t.Fatalf("the slow delivery: %v", err)
	}
	if got := subjects(list(t, s, "rcpt@example.com", postgres.Inbox)); fmt.Sprint(got) != "[quick slow]" {
		t.Errorf("the inbox holds %q, want [quick slow] (by the time each began)", got)
	}
}

// TestSynchronousCommit checks that the Store's commits are durable
// whatever the database says: synchronous_commit off is turned on, other
// values (which flush locally) are kept.
func TestSynchronousCommit(t *testing.T) {
	for setting, want := range map[string]string{"off": "on", "local": "local", "on": "on", "remote_write": "remote_write"} {
		t.Run(setting, func(t *testing.T) {
			url := pgtest.Shared(t)
			db := sqlDB(t, url)
			var name string
			if err := db.QueryRow(t.Context(), `SELECT current_database()`).Scan(&name); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(t.Context(), fmt.Sprintf(`ALTER DATABASE %q SET synchronous_commit = %s`, name, setting)); err != nil {
				t.Fatal(err)
			}
			s := openStore(t, url, nil)
			var got string
			if err := postgres.Pool(s).QueryRow(t.Context(), `SHOW synchronous_commit`).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("with the database's synchronous_commit %s, the Store's connections have %s, want %s", setting, got, want)
			}
		})
	}
}
