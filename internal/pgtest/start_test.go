package pgtest_test

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/ownmx/ownmx/internal/pgtest"
)

// A started server takes a table's write and gives it back, on 127.0.0.1
// with the settings a durability test relies on.
func TestStartWriteRead(t *testing.T) {
	s := pgtest.Start(t)
	u, err := url.Parse(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	if u.Hostname() != "127.0.0.1" {
		t.Errorf("URL %s: host %s, want 127.0.0.1", s.URL(), u.Hostname())
	}
	conn := connect(t, s.URL())
	mustExec(t, conn, "CREATE TABLE mail (id int PRIMARY KEY, subject text)")
	mustExec(t, conn, "INSERT INTO mail VALUES (1, $1)", "hello")
	var subject string
	if err := conn.QueryRow(t.Context(), "SELECT subject FROM mail WHERE id = 1").Scan(&subject); err != nil {
		t.Fatal(err)
	}
	if subject != "hello" {
		t.Errorf("subject %q, want %q", subject, "hello")
	}
	for setting, want := range map[string]string{
		"fsync":              "on",
		"synchronous_commit": "on",
		"listen_addresses":   "127.0.0.1",
		"max_connections":    "200",
	} {
		var got string
		if err := conn.QueryRow(t.Context(), "SELECT current_setting($1)", setting).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s = %s, want %s", setting, got, want)
		}
	}
}

// The server listens on a Unix socket in its directory too, not in the
// system's /var/run/postgresql.
func TestUnixSocket(t *testing.T) {
	s := pgtest.Start(t)
	conn := connect(t, fmt.Sprintf("host=%s port=%d user=pgtest dbname=postgres", s.Dir(), s.Port()))
	var dir string
	if err := conn.QueryRow(t.Context(), "SHOW unix_socket_directories").Scan(&dir); err != nil {
		t.Fatal(err)
	}
	if dir != s.Dir() {
		t.Errorf("unix_socket_directories = %s, want %s", dir, s.Dir())
	}
}

// CreateDatabase gives an empty database of its own on a started server;
// a test may stop the server before its cleanup, which then drops nothing.
func TestCreateDatabaseThenStop(t *testing.T) {
	s := pgtest.Start(t)
	db := s.CreateDatabase(t)
	if db == s.URL() {
		t.Fatalf("CreateDatabase gave the default database %s", db)
	}
	mustExec(t, connect(t, s.URL()), "CREATE TABLE in_default (id int)")
	conn := connect(t, db)
	if _, err := conn.Exec(t.Context(), "SELECT * FROM in_default"); err == nil {
		t.Error("the new database has the default database's table")
	}
	s.Stop(t)
}

// A server killed, as the crash tests do, and not restarted leaves no
// shared memory segment in /dev/shm once its test ends: those are the
// machine's RAM, and every test run would add some.
func TestNoSegmentLeftInDevShm(t *testing.T) {
	before := shmSegments(t)
	t.Run("server", func(t *testing.T) {
		s := pgtest.Start(t)
		conn := connect(t, s.URL())
		var typ string
		if err := conn.QueryRow(t.Context(), "SELECT current_setting('dynamic_shared_memory_type')").Scan(&typ); err != nil {
			t.Fatal(err)
		}
		if typ != "mmap" {
			t.Errorf("dynamic_shared_memory_type = %s, want mmap (in the data directory)", typ)
		}
		conn.Close(t.Context())
		s.Kill(t)
	})
	for name := range shmSegments(t) {
		if !before[name] {
			t.Errorf("/dev/shm/%s left by the stopped server", name)
		}
	}
}

// shmSegments returns the names of PostgreSQL's segments in /dev/shm.
func shmSegments(t *testing.T) map[string]bool {
	t.Helper()
	entries, err := os.ReadDir("/dev/shm")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "PostgreSQL.") {
			names[e.Name()] = true
		}
	}
	return names
}
