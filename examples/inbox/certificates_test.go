package main

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/ownmx/ownmx/certs/acmetest"
	"github.com/ownmx/ownmx/dnsx/dnstest"
)

// TestTLSFilesReloadOnHangup replaces -tls-cert and -tls-key and sends
// SIGHUP: the next STARTTLS gets the new certificate, and a session opened
// before keeps working and delivers its message.
func TestTLSFilesReloadOnHangup(t *testing.T) {
	dns := dnstest.NewServer(t, testZone())
	root := filepath.Join(t.TempDir(), "mail")
	oldCert, oldKey, oldPool := writeCert(t, "mx.inbox.test")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	copyFile(t, oldCert, certFile)
	copyFile(t, oldKey, keyFile)
	s := start(t, "-domain", "inbox.test", "-maildir", root, "-dns", dns.Addr, "-check-local",
		"-hostname", "mx.inbox.test", "-tls-cert", certFile, "-tls-key", keyFile)

	before, err := smtp.DialStartTLS(s.addr, &tls.Config{RootCAs: oldPool, ServerName: "mx.inbox.test"})
	if err != nil {
		t.Fatalf("STARTTLS with the first certificate: %v", err)
	}
	defer before.Close()
	if err := before.Noop(); err != nil { // the TLS handshake is done at the first command
		t.Fatalf("NOOP over TLS: %v", err)
	}

	newCert, newKey, newPool := writeCert(t, "mx.inbox.test")
	copyFile(t, newCert, certFile)
	copyFile(t, newKey, keyFile)
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if s.waitLog(regexp.MustCompile(`msg="certificate reloaded"`), 10*time.Second) == nil {
		t.Fatal("no reload logged after SIGHUP")
	}
	after, err := smtp.DialStartTLS(s.addr, &tls.Config{RootCAs: newPool, ServerName: "mx.inbox.test"})
	if err != nil {
		t.Fatalf("STARTTLS trusting only the new certificate after SIGHUP: %v", err)
	}
	defer after.Close()

	msg := message("alice@good.example.org", "opened-before-reload", body)
	if err := send(before, "alice@good.example.org", "bob@inbox.test", msg); err != nil {
		t.Fatalf("the session opened before the reload: %v", err)
	}
	find(t, filepath.Join(root, "inbox.test", "bob", "new"), "opened-before-reload@")
}

// TestHangupWithoutTLS sends SIGHUP to an inbox that has no certificate
// files, as systemctl reload does: it goes on receiving mail, where a
// signal left to its default action would have ended it.
func TestHangupWithoutTLS(t *testing.T) {
	dns := dnstest.NewServer(t, testZone())
	root := filepath.Join(t.TempDir(), "mail")
	s := start(t, "-domain", "inbox.test", "-maildir", root, "-dns", dns.Addr, "-check-local")
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if s.waitLog(regexp.MustCompile(`msg="SIGHUP: nothing to reload`), 10*time.Second) == nil {
		t.Fatal("SIGHUP not handled: the inbox did not log it")
	}
	c, err := smtp.Dial(s.addr)
	if err != nil {
		t.Fatalf("connecting after SIGHUP: %v", err)
	}
	defer c.Close()
	if err := send(c, "alice@good.example.org", "bob@inbox.test", message("alice@good.example.org", "after-hangup", body)); err != nil {
		t.Fatalf("sending after SIGHUP: %v", err)
	}
	find(t, filepath.Join(root, "inbox.test", "bob", "new"), "after-hangup@")
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestACMECertificate starts the inbox with -acme-* against pebble on
// loopback: the first STARTTLS gets a certificate for -hostname issued by
// pebble over HTTP-01 answered on -acme-http, and a restart on the same
// -acme-dir serves it again without a new order.
func TestACMECertificate(t *testing.T) {
	dns := dnstest.NewServer(t, testZone())
	caDNS := dnstest.NewServer(t, "inbox.test. 3600 IN SOA ns.inbox.test. hostmaster.inbox.test. 1 3600 600 86400 300\n"+
		"mx.inbox.test. 3600 IN A 127.0.0.1\n")
	// A free port for -acme-http, known before pebble starts: pebble's
	// validation authority takes it at construction.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := ln.Addr().String()
	ln.Close()
	ca := acmetest.NewServer(t, acmetest.Options{DNS: caDNS.Addr, HTTPPort: ln.Addr().(*net.TCPAddr).Port})
	t.Setenv("SSL_CERT_FILE", ca.CertFile) // the inbox trusts pebble's HTTPS the usual way
	acmeDir := filepath.Join(t.TempDir(), "acme")
	args := []string{"-domain", "inbox.test", "-maildir", filepath.Join(t.TempDir(), "mail"), "-dns", dns.Addr,
		"-hostname", "mx.inbox.test", "-acme-dir", acmeDir, "-acme-ca", ca.DirectoryURL,
		"-acme-email", "postmaster@inbox.test", "-acme-http", httpAddr}

	serial := func(s *server) string {
		t.Helper()
		c, err := smtp.DialStartTLS(s.addr, &tls.Config{RootCAs: ca.Roots, ServerName: "mx.inbox.test"})
		if err != nil {
			t.Fatalf("STARTTLS trusting pebble's root: %v", err)
		}
		defer c.Close()
		if err := c.Noop(); err != nil { // the handshake is done at the first command
			t.Fatalf("NOOP over TLS with the ACME certificate: %v", err)
		}
		st, _ := c.TLSConnectionState()
		return st.PeerCertificates[0].SerialNumber.String()
	}
	s := start(t, args...)
	first := serial(s)
	issued := ca.Orders()
	if issued == 0 {
		t.Fatal("pebble saw no order")
	}
	s.kill()

	s = start(t, args...)
	if got := serial(s); got != first {
		t.Fatalf("after a restart the serial is %s, want the stored %s", got, first)
	}
	if n := ca.Orders(); n != issued {
		t.Fatalf("orders after the restart: %d, want still %d", n, issued)
	}
}
