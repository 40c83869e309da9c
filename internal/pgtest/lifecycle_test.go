package pgtest_test

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ownmx/ownmx/internal/pgtest"
)

// Two servers run at once, each with its own port, directory and data.
func TestTwoServersAtOnce(t *testing.T) {
	a, b := pgtest.Start(t), pgtest.Start(t)
	if a.Port() == b.Port() || a.Dir() == b.Dir() {
		t.Fatalf("both servers on port %d/%d in %s/%s", a.Port(), b.Port(), a.Dir(), b.Dir())
	}
	connA, connB := connect(t, a.URL()), connect(t, b.URL())
	mustExec(t, connA, "CREATE TABLE only_a (id int)")
	mustExec(t, connA, "INSERT INTO only_a VALUES (1)")
	if n := count(t, connA, "only_a"); n != 1 {
		t.Errorf("server a has %d rows, want 1", n)
	}
	if _, err := connB.Exec(t.Context(), "SELECT * FROM only_a"); err == nil {
		t.Error("server b has server a's table")
	}
}

// Stop ends the connections and refuses new ones; Restart serves the same
// data on the same URL.
func TestStopRestart(t *testing.T) {
	s := pgtest.Start(t)
	url := s.URL()
	conn := connect(t, url)
	mustExec(t, conn, "CREATE TABLE mail (id int)")
	mustExec(t, conn, "INSERT INTO mail SELECT generate_series(1, 10)")

	s.Stop(t)
	if _, err := conn.Exec(t.Context(), "SELECT 1"); err == nil {
		t.Error("a connection opened before Stop still works after it")
	}
	if c, err := pgx.Connect(t.Context(), url); err == nil {
		c.Close(t.Context())
		t.Fatal("a new connection succeeds while the server is stopped")
	}

	s.Restart(t)
	if s.URL() != url {
		t.Errorf("URL after Restart %s, want %s", s.URL(), url)
	}
	if n := count(t, connect(t, url), "mail"); n != 10 {
		t.Errorf("%d rows after Restart, want 10", n)
	}
}

// Kill crashes the server; Restart recovers every committed row from the
// write-ahead log.
func TestKillRestartRecovers(t *testing.T) {
	s := pgtest.Start(t)
	conn := connect(t, s.URL())
	mustExec(t, conn, "CREATE TABLE mail (id int)")
	const commits = 50
	for i := range commits {
		mustExec(t, conn, "INSERT INTO mail VALUES ($1)", i) // one commit each
	}

	s.Kill(t)
	if c, err := pgx.Connect(t.Context(), s.URL()); err == nil {
		c.Close(t.Context())
		t.Fatal("a new connection succeeds after Kill")
	}

	s.Restart(t)
	if n := count(t, connect(t, s.URL()), "mail"); n != commits {
		t.Errorf("%d rows after Kill and Restart, want %d", n, commits)
	}
	// Proof that the server crashed rather than stopped cleanly.
	if log := s.Log(); !strings.Contains(log, "automatic recovery in progress") {
		t.Errorf("the log after Kill and Restart shows no crash recovery:\n%s", log)
	}
}
