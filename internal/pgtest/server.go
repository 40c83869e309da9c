package pgtest

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"unicode"

	"github.com/jackc/pgx/v5"
)

// Server is a throwaway PostgreSQL cluster, started by Start for one test.
type Server struct {
	c *cluster
}

// Start runs initdb in a new temporary directory and starts a server for
// the test on a free port of 127.0.0.1, or fails the test. At the test's
// cleanup the server is stopped at once (as "pg_ctl stop -m immediate"
// does) and its directory removed; the server log is written to the
// test's output if the test failed.
func Start(t testing.TB) *Server {
	t.Helper()
	c, err := newCluster(t.Context(), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{c: c}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pgtest: the log of the server in %s:\n%s", c.data, s.Log())
		}
		if err := c.close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// URL returns the URL of the server's default database, "postgres", for
// the superuser "pgtest", which needs no password:
// postgres://pgtest@127.0.0.1:PORT/postgres?sslmode=disable.
func (s *Server) URL() string { return s.c.url("postgres") }

// Port returns the server's TCP port on 127.0.0.1, which Restart keeps.
func (s *Server) Port() int { return s.c.port }

// Dir returns the cluster's directory: the data directory is its "data",
// and the Unix socket (.s.PGSQL.PORT) is in it.
func (s *Server) Dir() string { return s.c.dir }

// Log returns what the server has logged since initdb: its log file,
// postgres.log in the data directory.
func (s *Server) Log() string { return s.c.logSince(0) }

// CreateDatabase creates a new empty database on the server, dropped at
// the test's cleanup if the server then runs, and returns its URL. It fails
// the test if the server does not run.
func (s *Server) CreateDatabase(t testing.TB) string {
	t.Helper()
	return s.c.createDatabase(t)
}

// Stop stops the server as "pg_ctl stop -m fast" does: connections are
// closed, open transactions rolled back, and the data written. Connections
// fail until Restart.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	if s.c.pm == nil {
		t.Fatalf("pgtest: Stop: the server in %s is not running", s.c.data)
	}
	err := s.c.halt(s.c.pm, syscall.SIGINT)
	s.c.pm = nil
	if err != nil {
		t.Fatal(err)
	}
}

// Kill kills the server's postmaster with SIGKILL, as a crash would, and
// waits until its processes are gone. Restart then recovers the committed
// data from the write-ahead log.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	if s.c.pm == nil {
		t.Fatalf("pgtest: Kill: the server in %s is not running", s.c.data)
	}
	err := s.c.crash(s.c.pm)
	s.c.pm = nil
	if err != nil {
		t.Fatal(err)
	}
}

// Restart starts the stopped or killed server again on the same port and
// data, and waits until it accepts connections.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	if s.c.pm != nil {
		t.Fatalf("pgtest: Restart: the server in %s is running: Stop or Kill it first", s.c.data)
	}
	pm, err := s.c.start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	s.c.pm = pm
}

// url returns the URL of database db.
func (c *cluster) url(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", superuser, c.port, db)
}

// running reports whether the server runs.
func (c *cluster) running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pm != nil
}

// databases counts the databases made by createDatabase in this process,
// so that their names differ.
var databases atomic.Int64

// createDatabase creates a new empty database named after t, dropped at
// t's cleanup, and returns its URL.
func (c *cluster) createDatabase(t testing.TB) string {
	t.Helper()
	name := databaseName(t.Name(), databases.Add(1))
	if err := c.create(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !c.running() {
			return // stopped by the test; its cluster goes with it
		}
		if err := c.drop(context.Background(), name); err != nil {
			t.Error(err)
		}
	})
	return c.url(name)
}

// create creates database name.
func (c *cluster) create(ctx context.Context, name string) error {
	if err := c.exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("pgtest: creating database %s: %w", name, err)
	}
	return nil
}

// drop drops database name, ending the connections to it.
func (c *cluster) drop(ctx context.Context, name string) error {
	if err := c.exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("pgtest: dropping database %s: %w", name, err)
	}
	return nil
}

// exec runs sql on the server's default database.
func (c *cluster) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, c.url("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// databaseName returns a database name for test testName and number n:
// the test's name in lower-case letters, digits and underscores, cut so
// that the name fits PostgreSQL's 63 bytes.
func databaseName(testName string, n int64) string {
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		switch {
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	suffix := fmt.Sprintf("_%d", n)
	name := b.String()
	if max := 63 - len("t_") - len(suffix); len(name) > max {
		name = name[:max]
	}
	return "t_" + name + suffix
}
