package main

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"
	"go.uber.org/goleak"

	"github.com/ownmx/ownmx/dnsx/dnstest"
	"github.com/ownmx/ownmx/internal/pgtest"
)

// inboxBin is the inbox binary that TestMain builds for the tests to run.
var inboxBin string

// TestMain builds the program once into a temporary directory (with the
// race detector when the tests have it, so that the servers they run
// report races too), runs the tests, removes the directory, and fails the
// run if a test left a goroutine behind.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "inbox-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	inboxBin = filepath.Join(dir, "inbox")
	build := []string{"build", "-o", inboxBin}
	if raceBuild {
		build = append(build, "-race")
	}
	if out, err := exec.Command("go", append(build, ".")...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./examples/inbox: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := pgtest.Main(m).Run() // stops the PostgreSQL cluster of pgtest.Shared
	os.RemoveAll(dir)
	if code == 0 {
		// pebble (certs/acmetest) leaves its validation loop running.
		if err := goleak.Find(goleak.IgnoreTopFunction("github.com/letsencrypt/pebble/v2/va.VAImpl.processTasks")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// The tests' sender domains, served by dnstest:
//   - good.example.org: SPF passes for 127.0.0.1, DMARC p=reject;
//   - signed.example.org: SPF fails, DKIM key at ed._domainkey, p=reject;
//   - quar.example.org: SPF fails, p=quarantine;
//   - rej.example.org: SPF fails, p=reject;
//   - sf.example.org: SPF fails; its DMARC record is made to SERVFAIL.
const baseZone = `
$ORIGIN example.org.
@            300 SOA ns.example.org. hostmaster.example.org. 1 3600 600 86400 300
good         300 TXT "v=spf1 ip4:127.0.0.1 -all"
_dmarc.good  300 TXT "v=DMARC1; p=reject"
signed       300 TXT "v=spf1 -all"
_dmarc.signed 300 TXT "v=DMARC1; p=reject"
quar         300 TXT "v=spf1 -all"
_dmarc.quar  300 TXT "v=DMARC1; p=quarantine"
rej          300 TXT "v=spf1 -all"
_dmarc.rej   300 TXT "v=DMARC1; p=reject"
sf           300 TXT "v=spf1 -all"
_dmarc.sf    300 TXT "v=DMARC1; p=none"
`

// dkimKey signs the messages of signed.example.org.
var dkimKey = sync.OnceValue(func() ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
})

// testZone is baseZone with the DKIM key of signed.example.org.
func testZone() string {
	pub := base64.StdEncoding.EncodeToString(dkimKey().Public().(ed25519.PublicKey))
	return baseZone + `ed._domainkey.signed 300 TXT "v=DKIM1; k=ed25519; p=` + pub + `"` + "\n"
}

// message returns a CRLF message from author to bob@inbox.test whose
// Message-ID holds id, with body after the header.
func message(author, id, body string) string {
	return "From: <" + author + ">\r\n" +
		"To: <bob@inbox.test>\r\n" +
		"Subject: test " + id + "\r\n" +
		"Date: Thu, 26 Nov 2026 12:00:00 +0000\r\n" +
		"Message-ID: <" + id + "@test.example>\r\n" +
		"\r\n" + body
}

// body is a message body whose lines test that the bytes are kept: a
// leading dot (dot-stuffed on the wire), tabs and trailing spaces, an
// empty line.
const body = "Hello Bob,\r\n" +
	".a line that starts with a dot\r\n" +
	"..and one with two\r\n" +
	"\ttab and trailing spaces   \r\n" +
	"\r\n" +
	"Caf\xc3\xa9 au lait.\r\n"

// server is a running inbox process.
type server struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string

	mu      sync.Mutex
	lines   []string      // its log, line by line
	changed chan struct{} // closed and replaced when a line arrives

	done    chan struct{} // closed once the process has been waited for
	waitErr error         // cmd.Wait's result, once done is closed
}

// listening matches the log line that says where the server listens.
var listening = regexp.MustCompile(`msg=listening addr=(\S+)`)

// start runs the inbox binary with args on a free port of 127.0.0.1 and
// returns once it listens. The process is killed when the test ends, and
// its log is shown if the test failed.
func start(t *testing.T, args ...string) *server {
	t.Helper()
	cmd := exec.Command(inboxBin, append([]string{"-listen", "127.0.0.1:0"}, args...)...)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = pw
	if raceBuild && os.Getenv("GORACE") == "" {
		// A race-enabled program sleeps a second at exit by default.
		cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=50")
	}
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		t.Fatalf("starting %s: %v", inboxBin, err)
	}
	pw.Close()
	s := &server{t: t, cmd: cmd, changed: make(chan struct{}), done: make(chan struct{})}
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			s.mu.Lock()
			s.lines = append(s.lines, sc.Text())
			close(s.changed)
			s.changed = make(chan struct{})
			s.mu.Unlock()
		}
	}()
	go func() {
		<-logDone // the pipe is at EOF: the process has exited
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.kill()
		if strings.Contains(s.log(), "WARNING: DATA RACE") {
			t.Errorf("the inbox reported a data race")
		}
		if t.Failed() {
			t.Logf("inbox %v log:\n%s", args, s.log())
		}
	})
	m := s.waitLog(listening, 30*time.Second)
	if m == nil {
		t.Fatalf("inbox %v did not say it listens; log:\n%s", args, s.log())
	}
	s.addr = m[1]
	return s
}

// waitLog waits, at most timeout, for a log line that matches re and
// returns its submatches, or nil if none came.
func (s *server) waitLog(re *regexp.Regexp, timeout time.Duration) []string {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	seen := 0
	for {
		s.mu.Lock()
		for ; seen < len(s.lines); seen++ {
			if m := re.FindStringSubmatch(s.lines[seen]); m != nil {
				s.mu.Unlock()
				return m
			}
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-s.done:
			s.mu.Lock()
			n := len(s.lines)
			s.mu.Unlock()
			if seen == n {
				return nil
			}
		case <-timer.C:
			return nil
		}
	}
}

// log returns what the server has logged so far.
func (s *server) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "\n")
}

// kill ends the process with SIGKILL, if it still runs, and waits for it.
func (s *server) kill() {
	s.cmd.Process.Kill()
	<-s.done
}

// wait waits, at most timeout, for the process to exit and returns its
// exit code.
func (s *server) wait(timeout time.Duration) int {
	s.t.Helper()
	select {
	case <-s.done:
	case <-time.After(timeout):
		s.t.Fatalf("inbox did not exit within %v", timeout)
	}
	var ee *exec.ExitError
	if errors.As(s.waitErr, &ee) {
		return ee.ExitCode()
	}
	if s.waitErr != nil {
		s.t.Fatalf("waiting for inbox: %v", s.waitErr)
	}
	return 0
}

// dial connects go-smtp's client to the server and says EHLO.
func dial(t *testing.T, addr string) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c.CommandTimeout, c.SubmissionTimeout = 10*time.Second, 10*time.Second
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.test"); err != nil {
		t.Fatalf("EHLO: %v", err)
	}
	return c
}

// send delivers msg from mailFrom to rcpt over c and returns the SMTP
// refusal, if any, as *smtp.SMTPError.
func send(c *smtp.Client, mailFrom, rcpt, msg string) error {
	if err := c.Mail(mailFrom, nil); err != nil {
		return err
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		c.Reset()
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	return w.Close()
}

// wantCode fails the test unless err is an SMTP reply with code and the
// enhanced code enhanced ("5.7.1").
func wantCode(t *testing.T, what string, err error, code int, enhanced string) {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		t.Fatalf("%s: got %v, want %d %s", what, err, code, enhanced)
	}
	got := fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
	if se.Code != code || got != enhanced {
		t.Fatalf("%s: got %d %s (%s), want %d %s", what, se.Code, got, se.Message, code, enhanced)
	}
}

// files returns the contents of the files in dir, by name; a missing dir
// has none.
func files(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string][]byte, len(ents))
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = b
	}
	return m
}

// find returns the one file in dir that contains marker, failing the test
// if there is not exactly one.
func find(t *testing.T, dir, marker string) []byte {
	t.Helper()
	var found [][]byte
	for _, b := range files(t, dir) {
		if bytes.Contains(b, []byte(marker)) {
			found = append(found, b)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d files in %s hold %q, want 1", len(found), dir, marker)
	}
	return found[0]
}

// anywhere reports the files under root that contain marker.
func anywhere(t *testing.T, root, marker string) []string {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err == nil && bytes.Contains(b, []byte(marker)) {
			paths = append(paths, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

// splitAdded splits a stored message into the header fields the server
// added before sent and checks that they are exactly one
// Authentication-Results and one Received field, in that order, and that
// sent follows them byte for byte. It returns the added fields.
func splitAdded(stored []byte, sent string) (string, error) {
	if !bytes.HasSuffix(stored, []byte(sent)) {
		return "", fmt.Errorf("stored message does not end with the message sent:\n%s", stored)
	}
	added := string(stored[:len(stored)-len(sent)])
	var names []string
	for _, line := range strings.SplitAfter(added, "\r\n") {
		if line == "" {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue // folded
		}
		name, _, _ := strings.Cut(line, ":")
		names = append(names, name)
	}
	if got := strings.Join(names, ","); got != "Authentication-Results,Received" {
		return "", fmt.Errorf("server added fields %q, want Authentication-Results,Received:\n%s", got, added)
	}
	return added, nil
}

// TestEndToEnd runs the built inbox with -check-local and DNS from
// dnstest, sends mail with go-smtp's client and with swaks, and checks
// the Maildir.
func TestEndToEnd(t *testing.T) {
	dns := dnstest.NewServer(t, testZone())
	root := filepath.Join(t.TempDir(), "mail")
	s := start(t, "-domain", "inbox.test,other.test", "-users", "bob", "-maildir", root,
		"-dns", dns.Addr, "-check-local", "-hostname", "mx.inbox.test")
	inbox := filepath.Join(root, "inbox.test", "bob", "new")
	junk := filepath.Join(root, "inbox.test", "bob", ".Junk", "new")

	// checkAdded checks the server's fields of a stored message.
	checkAdded := func(t *testing.T, stored []byte, sent string, results ...string) {
		t.Helper()
		added, err := splitAdded(stored, sent)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(added, "Authentication-Results: mx.inbox.test;") {
			t.Errorf("Authentication-Results does not name mx.inbox.test:\n%s", added)
		}
		for _, r := range results {
			if !strings.Contains(added, r) {
				t.Errorf("added fields lack %q:\n%s", r, added)
			}
		}
		if !regexp.MustCompile(`\r\nReceived: from client\.test \(\[127\.0\.0\.1\]\)\r\n\tby mx\.inbox\.test with ESMTPS? id `).MatchString(added) {
			t.Errorf("Received field not as expected:\n%s", added)
		}
	}

	t.Run("SPF pass, go-smtp", func(t *testing.T) {
		msg := message("alice@good.example.org", "spf-pass", body)
		if err := send(dial(t, s.addr), "alice@good.example.org", "bob@inbox.test", msg); err != nil {
			t.Fatalf("send: %v", err)
		}
		checkAdded(t, find(t, inbox, "spf-pass@"), msg,
			"spf=pass smtp.mailfrom=alice@good.example.org", "dkim=none", "dmarc=pass header.from=good.example.org")
	})

	t.Run("DKIM pass, SPF fail", func(t *testing.T) {
		var signed bytes.Buffer
		err := dkim.Sign(&signed, strings.NewReader(message("alice@signed.example.org", "dkim-pass", body)),
			&dkim.SignOptions{Domain: "signed.example.org", Selector: "ed", Signer: dkimKey()})
		if err != nil {
			t.Fatal(err)
		}
		msg := signed.String()
		if err := send(dial(t, s.addr), "alice@signed.example.org", "bob+lists@inbox.test", msg); err != nil {
			t.Fatalf("send: %v", err)
		}
		checkAdded(t, find(t, inbox, "dkim-pass@"), msg,
			"spf=fail", "dkim=pass header.d=signed.example.org", "dmarc=pass header.from=signed.example.org")
	})

	t.Run("swaks", func(t *testing.T) {
		swaks := lookSwaks(t)
		// swaks ends the data with CRLF "." CRLF after the file's last
		// byte, adding a CRLF of its own: the file ends without one.
		sent := message("carol@good.example.org", "via-swaks", body)
		file := filepath.Join(t.TempDir(), "msg.eml")
		if err := os.WriteFile(file, []byte(strings.TrimSuffix(sent, "\r\n")), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(swaks, "--server", s.addr, "--helo", "client.test",
			"--from", "carol@good.example.org", "--to", "Bob@inbox.test", "--data", "@"+file,
			"--timeout", "20").CombinedOutput()
		if err != nil {
			t.Fatalf("swaks: %v\n%s", err, out)
		}
		checkAdded(t, find(t, inbox, "via-swaks@"), sent, "spf=pass", "dmarc=pass header.from=good.example.org")
	})

	t.Run("DMARC quarantine goes to Junk", func(t *testing.T) {
		msg := message("mallory@quar.example.org", "quarantined", body)
		if err := send(dial(t, s.addr), "mallory@quar.example.org", "bob@inbox.test", msg); err != nil {
			t.Fatalf("send: %v", err)
		}
		checkAdded(t, find(t, junk, "quarantined@"), msg, `dmarc=fail reason="policy quarantine" header.from=quar.example.org`)
		if got := anywhere(t, inbox, "quarantined@"); len(got) != 0 {
			t.Errorf("quarantined message also in the inbox: %v", got)
		}
		if s.waitLog(regexp.MustCompile(`msg="message authenticated" .*from=mallory@quar\.example\.org .*verdict=quarantine`), 10*time.Second) == nil {
			t.Errorf("no log line with the quarantine verdict")
		}
	})

	t.Run("DMARC reject is refused and not stored", func(t *testing.T) {
		msg := message("mallory@rej.example.org", "rejected", body)
		err := send(dial(t, s.addr), "mallory@rej.example.org", "bob@inbox.test", msg)
		wantCode(t, "DATA", err, 550, "5.7.1")
		if got := anywhere(t, root, "rejected@"); len(got) != 0 {
			t.Errorf("rejected message on disk: %v", got)
		}
		if s.waitLog(regexp.MustCompile(`msg="message authenticated" .*from=mallory@rej\.example\.org .*verdict=reject`), 10*time.Second) == nil {
			t.Errorf("no log line with the reject verdict")
		}
	})

	t.Run("DNS failure defers", func(t *testing.T) {
		dns.ServFail("_dmarc.sf.example.org")
		msg := message("alice@sf.example.org", "deferred", body)
		err := send(dial(t, s.addr), "alice@sf.example.org", "bob@inbox.test", msg)
		wantCode(t, "DATA while the DMARC record cannot be read", err, 451, "4.7.0")
		if got := anywhere(t, root, "deferred@"); len(got) != 0 {
			t.Errorf("deferred message on disk: %v", got)
		}
	})

	t.Run("RCPT refusals", func(t *testing.T) {
		c := dial(t, s.addr)
		if err := c.Mail("alice@good.example.org", nil); err != nil {
			t.Fatal(err)
		}
		wantCode(t, "unknown user with -users", c.Rcpt("carol@inbox.test", nil), 550, "5.1.1")
		wantCode(t, "another domain", c.Rcpt("bob@elsewhere.test", nil), 550, "5.7.1")
		wantCode(t, "odd local part", c.Rcpt("bob%x@inbox.test", nil), 550, "5.1.1")
		if err := c.Rcpt("postmaster@other.test", nil); err != nil {
			t.Errorf("postmaster of the second domain refused: %v", err)
		}
	})

	if entries, err := os.ReadDir(filepath.Join(root, spoolDir)); err != nil || len(entries) != 0 {
		t.Errorf("spool directory: %d entries, %v; want it empty", len(entries), err)
	}
}

// TestLoopbackTrusted checks that without -check-local the mail of a
// loopback client is delivered unchecked, whatever the sender's DMARC
// policy, without a DNS query, and annotated "none" with forged results
// removed.
func TestLoopbackTrusted(t *testing.T) {
	dns := dnstest.NewServer(t, testZone())
	root := filepath.Join(t.TempDir(), "mail")
	s := start(t, "-domain", "inbox.test", "-maildir", root, "-dns", dns.Addr, "-hostname", "mx.inbox.test")

	forged := "Authentication-Results: MX.inbox.test; dmarc=pass header.from=rej.example.org\r\n" +
		"Authentication-Results: other.example; spf=pass\r\n"
	msg := message("mallory@rej.example.org", "trusted", body)
	if err := send(dial(t, s.addr), "mallory@rej.example.org", "anyone@inbox.test", forged+msg); err != nil {
		t.Fatalf("send: %v", err)
	}
	stored := find(t, filepath.Join(root, "inbox.test", "anyone", "new"), "trusted@")
	want := "Authentication-Results: other.example; spf=pass\r\n" + msg
	added, err := splitAdded(stored, want)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(added, "Authentication-Results: mx.inbox.test; none\r\n") {
		t.Errorf("added fields do not say none:\n%s", added)
	}
	for _, name := range []string{"rej.example.org", "_dmarc.rej.example.org", "_dmarc.example.org"} {
		if n := dns.Queries(name, 0); n != 0 {
			t.Errorf("%d DNS queries for %s, want none for a loopback client", n, name)
		}
	}
	if s.waitLog(regexp.MustCompile(`msg="message not checked: local client" .*from=mallory@rej\.example\.org verdict=deliver`), 10*time.Second) == nil {
		t.Errorf("no log line for the unchecked message")
	}

	// The header is parsed and written again: the bytes stay as sent at
	// the edges of the header too.
	for _, tc := range []struct{ name, msg string }{
		{"header only", "From: <a@example.net>\r\nSubject: edge-1\r\n"},
		{"empty body", "From: <a@example.net>\r\nSubject: edge-2\r\n\r\n"},
		{"folded field", "From: <a@example.net>\r\nSubject: edge-3\r\n folded\r\n\r\nbody\r\n"},
	} {
		if err := send(dial(t, s.addr), "a@example.net", "edge@inbox.test", tc.msg); err != nil {
			t.Fatalf("%s: send: %v", tc.name, err)
		}
		_, subject, _ := strings.Cut(tc.msg, "Subject: ")
		stored := find(t, filepath.Join(root, "inbox.test", "edge", "new"), subject[:len("edge-1")])
		if _, err := splitAdded(stored, tc.msg); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	err = send(dial(t, s.addr), "a@example.net", "edge@inbox.test", "no header, just text\r\n")
	wantCode(t, "a message without a header", err, 554, "5.6.0")
}

// lookSwaks returns swaks's path, skipping the test where it is missing
// outside CI and failing it in CI, where .ci/run installs it.
func lookSwaks(t *testing.T) string {
	t.Helper()
	swaks, err := exec.LookPath("swaks")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("swaks is not installed (bash .ci/run installs it)")
		}
		t.Fatalf("swaks is not installed in CI: %v", err)
	}
	return swaks
}

// TestNewcomer runs the package comment's two commands, the server with
// only -domain (and its Maildir in a temporary directory) and swaks with
// only --server and --to, on a machine whose DNS does not answer: -dns
// names a port where nothing listens. The message lands.
func TestNewcomer(t *testing.T) {
	swaks := lookSwaks(t)
	deadDNS := func() string {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().String()
	}()
	dir := t.TempDir()
	s := start(t, "-domain", "example.com", "-maildir", filepath.Join(dir, "mail"), "-dns", deadDNS)
	out, err := exec.Command(swaks, "--server", s.addr, "--to", "me@example.com", "--timeout", "20").CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	msgs := files(t, filepath.Join(dir, "mail", "example.com", "me", "new"))
	if len(msgs) != 1 {
		t.Fatalf("%d messages in mail/example.com/me/new, want 1; swaks said:\n%s", len(msgs), out)
	}
	for _, b := range msgs {
		if !bytes.Contains(b, []byte("\r\nX-Mailer: swaks")) || !bytes.HasPrefix(b, []byte("Authentication-Results: ")) {
			t.Errorf("stored message is not swaks's with our fields:\n%s", b)
		}
	}
}

// TestShutdown sends SIGTERM, then SIGINT, while a message is half sent:
// the transaction finishes with 250, the message is stored, the next
// command is refused and the process exits 0. A client idle between
// transactions is let go.
func TestShutdown(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			dns := dnstest.NewServer(t, testZone())
			root := filepath.Join(t.TempDir(), "mail")
			s := start(t, "-domain", "inbox.test", "-maildir", root, "-dns", dns.Addr, "-check-local")

			idle := dial(t, s.addr)
			c := dial(t, s.addr)
			if err := c.Mail("alice@good.example.org", nil); err != nil {
				t.Fatal(err)
			}
			if err := c.Rcpt("bob@inbox.test", nil); err != nil {
				t.Fatal(err)
			}
			w, err := c.Data()
			if err != nil {
				t.Fatal(err)
			}
			msg := message("alice@good.example.org", "in-flight", body)
			half := len(msg) / 2
			if _, err := io.WriteString(w, msg[:half]); err != nil {
				t.Fatal(err)
			}
			if err := s.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if s.waitLog(regexp.MustCompile(`msg="shutting down`), 10*time.Second) == nil {
				t.Fatalf("no shutdown log line after %v", sig)
			}
			if _, err := io.WriteString(w, msg[half:]); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatalf("message in flight at %v: %v", sig, err)
			}
			if err := c.Mail("alice@good.example.org", nil); err == nil {
				t.Errorf("MAIL after shutdown accepted")
			}
			if err := idle.Noop(); err == nil {
				t.Errorf("idle client still served after shutdown")
			}
			// The server lingers until its clients hang up after a 421.
			c.Close()
			idle.Close()
			if code := s.wait(30 * time.Second); code != 0 {
				t.Errorf("exit code %d after %v, want 0", code, sig)
			}
			stored := find(t, filepath.Join(root, "inbox.test", "bob", "new"), "in-flight@")
			if _, err := splitAdded(stored, msg); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestFlags checks the refusals of bad command lines, in the process.
func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "-domain is required"},
		{[]string{"-domain", "inbox.test", "-tls-cert", "x.pem"}, "-tls-cert and -tls-key go together"},
		{[]string{"-domain", "inbox.test", "-tls-cert", "x.pem", "-tls-key", "y.pem", "-acme-dir", "acme"}, "-acme-dir and -tls-cert are two sources"},
		{[]string{"-domain", "inbox.test", "-log-level", "loud"}, `-log-level "loud"`},
		{[]string{"-domain", "inbox.test", "extra"}, `unexpected argument "extra"`},
		{[]string{"-domain", "inbox.test", "-max-size", "0"}, "-max-size 0"},
		{[]string{"-domain", "inbox.test", "-maildir", ""}, `-maildir "" keeps no mail`},
		{[]string{"-domain", "inbox.test", "-maildir", "", "-webhook", "http://127.0.0.1:1/", "-users", "me"}, "-users names the Maildirs"},
		{[]string{"-domain", "inbox.test", "-webhook-secret", "whsec_eA=="}, "-webhook-secret needs -webhook or -routes"},
		{[]string{"-domain", "inbox.test", "-webhook", "http://127.0.0.1:1/", "-routes", "r"}, "-webhook and -routes do not go together"},
		{[]string{"-domain", "inbox.test", "-webhook", "http://127.0.0.1:1/", "-retry-min", "1m", "-retry-max", "1s"}, "-retry-max at least -retry-min"},
		{[]string{"-domain", "inbox.test", "-forward", "me"}, "want LOCAL=ADDRESS"},
		{[]string{"-domain", "inbox.test", "-forward", "=me@mail.example"}, "want LOCAL=ADDRESS"},
		{[]string{"-domain", "inbox.test", "-forward", "me=nobody"}, `forward address "nobody"`},
		{[]string{"-domain", "inbox.test", "-forward", "me=<me@mail.example>"}, `forward address "<me@mail.example>"`},
		{[]string{"-domain", "inbox.test", "-forward", "me=me@mail.example", "-routes", "r"}, "-forward and -routes do not go together"},
		{[]string{"-domain", "inbox.test", "-forward", "me=me@mail.example", "-forward-domain", "other.test"}, `-forward-domain "other.test" is not one of -domain`},
		{[]string{"-domain", "inbox.test", "-smtp-port", "0"}, "-smtp-port 0"},
		{[]string{"-domain", "inbox.test", "-postgres", "postgres://127.0.0.1/mail", "-queue", "q"}, "-queue and -postgres do not go together"},
		{[]string{"-domain", "inbox.test", "-postgres", "postgres://me:s3cret@[::1/mail"}, "-postgres: not a URL"},
		{[]string{"-domain", "inbox.test", "-postgres", "postgres://127.0.0.1/mail", "-queue-lease", "0s"}, "-queue-lease 0s"},
	} {
		var stderr bytes.Buffer
		if code := run(tc.args, &stderr); code != 2 {
			t.Errorf("run(%q) = %d, want 2", tc.args, code)
		}
		if !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("run(%q) said %q, want it to hold %q", tc.args, stderr.String(), tc.want)
		}
	}
}
