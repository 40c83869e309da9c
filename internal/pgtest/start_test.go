package pgtest_test

import (
	"net/url"
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
