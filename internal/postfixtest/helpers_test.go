package postfixtest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ownmx/ownmx/internal/proc"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// testCert writes a certificate for host and its key to PEM files and
// returns them with a client configuration that trusts only it.
func testCert(t *testing.T, host string) (certFile, keyFile string, client *tls.Config) {
	t.Helper()
	server, client := smtptest.TLSConfigs(t, host)
	cert := server.Certificates[0]
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, client
}

// livePostfix returns the processes, other than zombies, whose environment
// names configDir as Postfix's configuration directory: those of the
// instance there. It looks as pgrep would, independently of how the
// package finds them (by process group).
func livePostfix(t *testing.T, configDir string) []int {
	t.Helper()
	ids, err := proc.PIDs()
	if err != nil {
		t.Fatal(err)
	}
	var live []int
	for _, id := range ids {
		if v, ok := proc.Env(id, "MAIL_CONFIG"); ok && v == configDir {
			if st, err := proc.ReadStat(id); err == nil && st.State != 'Z' {
				live = append(live, id)
			}
		}
	}
	return live
}

// traceHeader matches the headers Postfix puts on top of a message it
// delivers with virtual(8), and captures the recipient of Delivered-To and
// the client's address in Received.
var traceHeader = regexp.MustCompile(`^Return-Path: <[^>\n]*>\n` +
	`X-Original-To: [^\n]+\n` +
	`Delivered-To: ([^\n]+)\n` +
	`Received: from [^\n]* \(unknown \[([0-9.]+)\]\)\n` +
	`(?:\t[^\n]*\n)+`)

// splitTrace returns what Postfix added on top of msg (Return-Path,
// X-Original-To, Delivered-To, Received) and the message below it; it
// fails the test if the top is not that.
func splitTrace(t *testing.T, msg []byte) (trace string, rest []byte) {
	t.Helper()
	loc := traceHeader.FindIndex(msg)
	if loc == nil {
		t.Fatalf("delivered message does not start with Postfix's trace headers:\n%s", msg)
	}
	return string(msg[:loc[1]]), msg[loc[1]:]
}

// withLF returns s with CRLF line ends made LF, as Postfix stores lines.
func withLF(s string) []byte {
	return bytes.ReplaceAll([]byte(s), []byte("\r\n"), []byte("\n"))
}

// logLines returns the lines of log holding any of words.
func logLines(log string, words ...string) []string {
	var found []string
	for line := range strings.Lines(log) {
		for _, w := range words {
			if strings.Contains(line, w) {
				found = append(found, strings.TrimSpace(line))
				break
			}
		}
	}
	return found
}
