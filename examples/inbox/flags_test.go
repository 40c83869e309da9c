package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"go/parser"
	"go/token"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/ownmx/ownmx/dnsx/dnstest"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// writeCert writes a self-signed certificate for host (and moreHosts) and
// its key as PEM files in a temporary directory and returns their paths and
// a pool that trusts the certificate.
func writeCert(t *testing.T, host string, moreHosts ...string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	server, client := smtptest.TLSConfigs(t, host, moreHosts...)
	cert := server.Certificates[0]
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, client.RootCAs
}

// TestFlagsWired starts the binary with the limits and STARTTLS flags set,
// one server per flag so that one limit does not meet another's test, and
// checks that each one acts.
func TestFlagsWired(t *testing.T) {
	dns := dnstest.NewServer(t, testZone())
	root := filepath.Join(t.TempDir(), "mail")
	base := []string{"-domain", "inbox.test", "-maildir", root, "-dns", dns.Addr, "-check-local",
		"-hostname", "mx.inbox.test", "-log-level", "debug"}

	t.Run("STARTTLS", func(t *testing.T) {
		certFile, keyFile, pool := writeCert(t, "mx.inbox.test")
		s := start(t, append(base, "-tls-cert", certFile, "-tls-key", keyFile)...)
		c, err := smtp.DialStartTLS(s.addr, &tls.Config{RootCAs: pool, ServerName: "mx.inbox.test"})
		if err != nil {
			t.Fatalf("STARTTLS: %v", err)
		}
		defer c.Close()
		msg := message("alice@good.example.org", "over-tls", body)
		if err := send(c, "alice@good.example.org", "bob@inbox.test", msg); err != nil {
			t.Fatalf("send over TLS: %v", err)
		}
		stored := find(t, filepath.Join(root, "inbox.test", "bob", "new"), "over-tls@")
		added, err := splitAdded(stored, msg)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(added, "by mx.inbox.test with ESMTPS (TLS ") {
			t.Errorf("Received does not say TLS:\n%s", added)
		}
	})

	t.Run("max-size", func(t *testing.T) {
		s := start(t, append(base, "-max-size", "4096")...)
		c := dial(t, s.addr)
		if size, ok := c.MaxMessageSize(); !ok || size != 4096 {
			t.Errorf("SIZE advertised %d (%v), want 4096", size, ok)
		}
		msg := message("alice@good.example.org", "too-big", strings.Repeat("0123456789abcdef\r\n", 300))
		wantCode(t, "DATA of a message over -max-size", send(c, "alice@good.example.org", "bob@inbox.test", msg), 552, "5.3.4")
	})

	t.Run("idle-timeout", func(t *testing.T) {
		s := start(t, append(base, "-idle-timeout", "300ms")...)
		c := smtptest.Dial(t, s.addr)
		if r, err := c.ReadReply(); err != nil || r.Code != 220 {
			t.Fatalf("greeting %v, %v", r, err)
		}
		// Send half a command line and nothing more: the server gives up
		// on it after -idle-timeout, long before the client's 10 s.
		if err := c.WriteRaw("EHLO client"); err != nil {
			t.Fatal(err)
		}
		r, err := c.ReadReply()
		if err != nil || r.Code != 421 {
			t.Fatalf("after an idle half line: %v, %v; want 421", r, err)
		}
	})

	t.Run("free-space-reserve", func(t *testing.T) {
		// No disk has this much room: MAIL is refused before the message.
		s := start(t, append(base, "-free-space-reserve", "9000000000000000000")...)
		c := dial(t, s.addr)
		wantCode(t, "MAIL with the disk too full", c.Mail("alice@good.example.org", nil), 452, "4.3.1")
		// A reserve the disk has: mail flows.
		s = start(t, append(base, "-free-space-reserve", "1")...)
		c = dial(t, s.addr)
		if err := send(c, "alice@good.example.org", "bob@inbox.test", message("alice@good.example.org", "room", body)); err != nil {
			t.Fatalf("with room: %v", err)
		}
	})

	t.Run("max-conn-per-ip", func(t *testing.T) {
		s := start(t, append(base, "-max-conn-per-ip", "2")...)
		var replies []int
		for range 3 {
			conn, err := net.Dial("tcp", s.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			r, err := smtptest.NewClient(t, conn).ReadReply()
			if err != nil {
				t.Fatal(err)
			}
			replies = append(replies, r.Code)
		}
		if replies[0] != 220 || replies[1] != 220 || replies[2] != 421 {
			t.Errorf("greetings of three connections %v, want [220 220 421]", replies)
		}
	})

	// greet connects from ip, sends header if any, and returns the
	// greeting's code; the connection stays open until the test ends.
	greet := func(t *testing.T, addr, ip string, header string) int {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		conn, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		c := smtptest.NewClient(t, conn)
		if header != "" {
			if err := c.WriteRaw(header); err != nil {
				t.Fatal(err)
			}
		}
		r, err := c.ReadReply()
		if err != nil {
			t.Fatal(err)
		}
		return r.Code
	}

	t.Run("rate-conn", func(t *testing.T) {
		// 127.0.0.1 is exempt by default (-rate-exempt): 127.0.0.2 is not.
		s := start(t, append(base, "-rate-conn", "2")...)
		var replies []int
		for range 3 {
			replies = append(replies, greet(t, s.addr, "127.0.0.2", ""))
		}
		replies = append(replies, greet(t, s.addr, "127.0.0.3", ""))
		for range 3 {
			replies = append(replies, greet(t, s.addr, "127.0.0.1", ""))
		}
		if want := []int{220, 220, 421, 220, 220, 220, 220}; !slices.Equal(replies, want) {
			t.Errorf("greetings %v, want %v (127.0.0.2 three times, 127.0.0.3, exempt 127.0.0.1 three times)", replies, want)
		}
	})

	t.Run("rate-msg", func(t *testing.T) {
		s := start(t, append(base, "-rate-msg", "1", "-rate-exempt", "")...)
		c := dial(t, s.addr)
		if err := send(c, "alice@good.example.org", "bob@inbox.test", message("alice@good.example.org", "one", body)); err != nil {
			t.Fatalf("first message: %v", err)
		}
		c = dial(t, s.addr)
		wantCode(t, "second MAIL in a minute", c.Mail("alice@good.example.org", nil), 451, "4.7.1")
	})

	t.Run("rate-domain", func(t *testing.T) {
		s := start(t, append(base, "-rate-domain", "1", "-rate-exempt", "")...)
		c := dial(t, s.addr)
		if err := send(c, "alice@good.example.org", "bob@inbox.test", message("alice@good.example.org", "one", body)); err != nil {
			t.Fatalf("first message: %v", err)
		}
		c = dial(t, s.addr)
		wantCode(t, "second MAIL from good.example.org in a minute", c.Mail("carol@good.example.org", nil), 451, "4.7.1")
	})

	t.Run("proxy-from", func(t *testing.T) {
		s := start(t, append(base, "-proxy-from", "127.0.0.1/32", "-max-conn-per-ip", "1")...)
		// Two clients through the balancer on 127.0.0.1, each within its
		// cap of one connection, then one that is over it.
		var replies []int
		for _, src := range []string{"203.0.113.7", "203.0.113.8", "203.0.113.7"} {
			replies = append(replies, greet(t, s.addr, "127.0.0.1", "PROXY TCP4 "+src+" 192.0.2.25 40001 25\r\n"))
		}
		// Not from the balancer: the header is not believed.
		replies = append(replies, greet(t, s.addr, "127.0.0.2", ""))
		if want := []int{220, 220, 421, 220}; !slices.Equal(replies, want) {
			t.Errorf("greetings %v, want %v", replies, want)
		}
	})
}

// TestDocListsEveryFlag: the package documentation (go doc
// ./examples/inbox) lists every flag -help shows, with the same default.
func TestDocListsEveryFlag(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	_, doc, ok := strings.Cut(f.Doc.Text(), "# Flags\n")
	if !ok {
		t.Fatal("the package documentation has no # Flags section")
	}
	doc, _, _ = strings.Cut(doc, "\n# ")
	var help strings.Builder
	if code := run([]string{"-help"}, &help); code != 0 {
		t.Fatalf("-help exited %d", code)
	}
	flagLine := regexp.MustCompile(`(?m)^  -(\S+)`)
	defaultOf := regexp.MustCompile(`\(default "?([^")]*)"?\)`)
	entries := flagLine.FindAllStringSubmatchIndex(help.String(), -1)
	if len(entries) < 15 {
		t.Fatalf("-help shows %d flags:\n%s", len(entries), help.String())
	}
	for i, e := range entries {
		name := help.String()[e[2]:e[3]]
		end := len(help.String())
		if i+1 < len(entries) {
			end = entries[i+1][0]
		}
		line := regexp.MustCompile(`(?m)^\s*-` + regexp.QuoteMeta(name) + `\b.*$`).FindString(doc)
		if line == "" {
			t.Errorf("the package documentation does not list -%s", name)
			continue
		}
		if d := defaultOf.FindStringSubmatch(help.String()[e[0]:end]); d != nil && !strings.Contains(line, d[1]) {
			t.Errorf("the package documentation gives -%s without its default %q: %q", name, d[1], line)
		}
	}
}

// TestFlagsHelp checks that -help shows the bounds on new mailboxes with
// their defaults.
func TestFlagsHelp(t *testing.T) {
	var stderr strings.Builder
	if code := run([]string{"-help"}, &stderr); code != 0 {
		t.Fatalf("-help exited %d", code)
	}
	for _, want := range []string{
		"-max-mailboxes int", "(default 1000)",
		"-max-new-mailboxes-per-hour int", "(default 100)",
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("-help does not show %q:\n%s", want, stderr.String())
		}
	}
}
