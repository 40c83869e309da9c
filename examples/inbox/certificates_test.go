package main

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

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
