package pgtest_test

import (
	"context"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ownmx/ownmx/internal/pgtest"
)

// Each Shared call gives an empty database of its own on one cluster.
func TestSharedIsolated(t *testing.T) {
	first, second := pgtest.Shared(t), pgtest.Shared(t)
	if first == second {
		t.Fatalf("two Shared calls gave the same database %s", first)
	}
	u1, _ := url.Parse(first)
	u2, _ := url.Parse(second)
	if u1.Host != u2.Host {
		t.Errorf("Shared databases on two servers %s and %s, want one cluster", u1.Host, u2.Host)
	}
	c1, c2 := connect(t, first), connect(t, second)
	for _, c := range []*pgx.Conn{c1, c2} {
		var tables int
		if err := c.QueryRow(t.Context(), "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&tables); err != nil {
			t.Fatal(err)
		}
		if tables != 0 {
			t.Errorf("a new Shared database has %d tables, want 0", tables)
		}
	}
	mustExec(t, c1, "CREATE TABLE mail (id int)")
	mustExec(t, c1, "INSERT INTO mail VALUES (1)")
	if _, err := c2.Exec(t.Context(), "SELECT * FROM mail"); err == nil {
		t.Error("the second Shared database has the first one's table")
	}
}

// A Shared database is dropped at its test's cleanup, even with a
// connection the test left open.
func TestSharedDroppedAtCleanup(t *testing.T) {
	var dbURL string
	t.Run("user", func(t *testing.T) {
		var conn *pgx.Conn
		// Registered before Shared's, so run after it: the connection is
		// still open when the database is dropped.
		t.Cleanup(func() {
			if conn != nil {
				conn.Close(context.Background())
			}
		})
		dbURL = pgtest.Shared(t)
		var err error
		if conn, err = pgx.Connect(t.Context(), dbURL); err != nil {
			t.Fatal(err)
		}
		mustExec(t, conn, "CREATE TABLE mail (id int)")
	})
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err == nil {
		conn.Close(t.Context())
		t.Fatalf("database %s is still there after its test", dbURL)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "3D000" { // invalid_catalog_name
		t.Errorf("connecting to the dropped %s: %v, want SQLSTATE 3D000 (database does not exist)", dbURL, err)
	}
}

// A failed test that used Shared shows what the server logged while it
// ran: here the error of its query.
func TestSharedFailureShowsLog(t *testing.T) {
	if os.Getenv(childEnv) == "failing" {
		conn := connect(t, pgtest.Shared(t))
		if _, err := conn.Exec(t.Context(), "SELECT * FROM no_such_table"); err != nil {
			t.Error(err) // the failure the parent expects
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSharedFailureShowsLog$", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), childEnv+"=failing")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the failing child passed:\n%s", out)
	}
	const logged = `ERROR:  relation "no_such_table" does not exist`
	if !strings.Contains(string(out), logged) {
		t.Errorf("the failed test's output lacks the server's log line %q:\n%s", logged, out)
	}
}
