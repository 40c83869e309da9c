package pgtest

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
)

// Run as root, the server runs as the postgres user, who must reach the
// temporary directory: one of root's own is refused with a message that
// says what to do, rather than initdb's "permission denied".
func TestTempDirClosedToServer(t *testing.T) {
	closed := t.TempDir() // 0700, the test's user's
	t.Setenv("TMPDIR", closed)
	c, err := newCluster(t.Context(), t.Logf)
	if os.Geteuid() != 0 {
		// The server runs as the test's own user, who reaches it.
		if err != nil {
			t.Fatal(err)
		}
		c.close()
		return
	}
	if err == nil {
		c.close()
		t.Fatalf("a cluster in %s, closed to user postgres, started", closed)
	}
	if !strings.Contains(err.Error(), "set TMPDIR") {
		t.Errorf("the error does not say what to do: %v", err)
	}
}

// A postmaster whose port was taken between the choice and the bind says
// so with errNoPort, on which a first start tries another port.
func TestPortTaken(t *testing.T) {
	c, err := newCluster(t.Context(), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.halt(c.pm, 2); err != nil { // SIGINT: fast shutdown
		t.Fatal(err)
	}
	c.pm = nil
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c.port = l.Addr().(*net.TCPAddr).Port
	pm, err := c.start(context.Background())
	if err == nil {
		c.pm = pm
		t.Fatalf("postgres started on port %d, which a listener holds", c.port)
	}
	if !errors.Is(err, errNoPort) {
		t.Errorf("start on a taken port: %v, want errNoPort", err)
	}
}

// Shared refuses to start the shared cluster when no Main would stop it.
func TestSharedNeedsMain(t *testing.T) {
	shared.Lock()
	shared.main = false
	shared.Unlock()
	defer func() {
		shared.Lock()
		shared.main = true
		shared.Unlock()
	}()
	_, err := sharedCluster(t.Logf)
	if err == nil || !strings.Contains(err.Error(), "pgtest.Main") {
		t.Errorf("sharedCluster without Main: %v, want an error that names pgtest.Main", err)
	}
}
