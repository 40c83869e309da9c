package smtpd_test

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// TestHAProxyInterop runs a real HAProxy on loopback in front of the
// server with send-proxy-v2 (haproxy must be installed: .ci/run installs
// it). A client connecting to HAProxy from 127.0.0.2 is seen by the
// Connect handler and the Received header as 127.0.0.2, not as HAProxy's
// 127.0.0.1.
func TestHAProxyInterop(t *testing.T) {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		bin, err = exec.LookPath("/usr/sbin/haproxy") // off a non-root PATH
	}
	if err != nil {
		t.Fatalf("haproxy is needed (apt-get install haproxy): %v", err)
	}
	addr, rec := startProxied(t, "127.0.0.1/32", nil)

	// HAProxy is handed its listening socket as fd 3, so the client can
	// connect at once: the connection waits in the backlog until HAProxy
	// accepts it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := l.(*net.TCPListener).File()
	l.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg := filepath.Join(t.TempDir(), "haproxy.cfg")
	conf := fmt.Sprintf(`defaults
	mode tcp
	timeout connect 5s
	timeout client 30s
	timeout server 30s
frontend smtp
	bind fd@3
	default_backend mx
backend mx
	server mx %s send-proxy-v2
`, addr)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd := exec.Command(bin, "-db", "-f", cfg)
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("haproxy's output:\n%s", stderr.String())
		}
	})

	client := netip.MustParseAddr("127.0.0.2")
	if err := smtptest.Send(l.Addr().String(), "a@example.org", []string{"me@example.com"}, "Subject: hi\r\n\r\nhi\r\n", smtptest.LocalAddr(client)); err != nil {
		t.Fatalf("sending through haproxy: %v", err)
	}
	if got := rec.connected(); len(got) != 1 || got[0].Addr() != client {
		t.Errorf("Connect handler saw %v, want %s", got, client)
	}
	if msgs := rec.messages(); len(msgs) != 1 || !strings.Contains(msgs[0], "[127.0.0.2]") {
		t.Errorf("message %q, want the Received header to name [127.0.0.2]", msgs)
	}
}
