package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ownmx/ownmx/dnsx/dnstest"
	"github.com/ownmx/ownmx/webhook"
)

// testSecret signs the tests' webhooks.
const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// post is one request a receiver got.
type post struct {
	id, timestamp string
	header        http.Header
	body          []byte
	at            time.Time
	status        int // the receiver's answer
}

// receiver is a webhook receiver on loopback that records every POST and
// answers with what its answer function says for the n-th one (from 1).
type receiver struct {
	t      *testing.T
	url    string
	answer func(ctx context.Context, n int, p post) int

	arrived atomic.Int64 // POSTs begun

	mu      sync.Mutex
	posts   []post        // POSTs answered
	changed chan struct{} // closed and replaced at each answer
}

func newReceiver(t *testing.T, answer func(ctx context.Context, n int, p post) int) *receiver {
	t.Helper()
	r := &receiver{t: t, answer: answer, changed: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return
		}
		p := post{id: req.Header.Get("webhook-id"), timestamp: req.Header.Get("webhook-timestamp"),
			header: req.Header.Clone(), body: b, at: time.Now()}
		p.status = r.answer(req.Context(), int(r.arrived.Add(1)), p)
		r.mu.Lock()
		r.posts = append(r.posts, p)
		close(r.changed)
		r.changed = make(chan struct{})
		r.mu.Unlock()
		w.WriteHeader(p.status)
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL + "/hooks/mail"
	return r
}

// newSwitchReceiver returns a receiver that answers every POST with a
// status, at first status, and the function that changes it.
func newSwitchReceiver(t *testing.T, status int) (*receiver, func(int)) {
	var mu sync.Mutex
	r := newReceiver(t, func(context.Context, int, post) int {
		mu.Lock()
		defer mu.Unlock()
		return status
	})
	return r, func(s int) {
		mu.Lock()
		status = s
		mu.Unlock()
	}
}

// waitFor waits, at most timeout, until cond holds for the POSTs so far,
// and returns them.
func (r *receiver) waitFor(timeout time.Duration, what string, cond func([]post) bool) []post {
	r.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		posts, changed := append([]post(nil), r.posts...), r.changed
		r.mu.Unlock()
		if cond(posts) {
			return posts
		}
		select {
		case <-changed:
		case <-deadline.C:
			r.t.Fatalf("waited %v for %s; %d POSTs came", timeout, what, len(posts))
		}
	}
}

// logChanged returns a channel that is closed when the next line of the
// log arrives: take it before looking at what the server did, so that a
// line logged meanwhile is not missed.
func (s *server) logChanged() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// count returns how many POSTs came so far.
func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.posts)
}

// payloadOf decodes and checks a POST: a valid signature by testSecret,
// a fresh timestamp, and the JSON payload.
func payloadOf(t *testing.T, p post) webhook.Payload {
	t.Helper()
	if err := webhook.Verify(p.header, p.body, testSecret); err != nil {
		t.Fatalf("POST %s: signature: %v", p.id, err)
	}
	ts, err := strconv.ParseInt(p.timestamp, 10, 64)
	if err != nil || p.at.Sub(time.Unix(ts, 0)) > 5*time.Second || time.Unix(ts, 0).Sub(p.at) > time.Second {
		t.Errorf("POST %s: webhook-timestamp %q is not the time it was sent (%v)", p.id, p.timestamp, p.at)
	}
	var pl webhook.Payload
	if err := json.Unmarshal(p.body, &pl); err != nil {
		t.Fatalf("POST %s: payload: %v\n%s", p.id, err, p.body)
	}
	return pl
}

// queueCmd runs "inbox queue -queue dir args..." and returns its output.
func queueCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command(inboxBin, append([]string{"queue", "-queue", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("inbox queue %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestWebhook sends a message with swaks to an inbox with -webhook: it
// lands in the Maildir and is POSTed, signed, with the envelope, the
// authentication results and the parsed message.
func TestWebhook(t *testing.T) {
	swaks := lookSwaks(t)
	rcv, _ := newSwitchReceiver(t, http.StatusNoContent)
	dir := t.TempDir()
	root := filepath.Join(dir, "mail")
	s := start(t, "-domain", "example.com", "-maildir", root, "-hostname", "mx.example.com",
		"-webhook", rcv.url, "-webhook-secret", testSecret, "-log-level", "debug")
	out, err := exec.Command(swaks, "--server", s.addr, "--from", "alice@sender.test", "--to", "me+news@example.com",
		"--header", "Subject: hello from swaks", "--body", "the body\n", "--timeout", "20").CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	posts := rcv.waitFor(20*time.Second, "the POST", func(p []post) bool { return len(p) >= 1 })
	pl := payloadOf(t, posts[0])
	d := pl.Data
	if pl.Type != "message.received" || d.Envelope.MailFrom != "alice@sender.test" ||
		strings.Join(d.Envelope.RcptTo, ",") != "me+news@example.com" || d.Envelope.ClientIP != "127.0.0.1" {
		t.Errorf("payload envelope: %+v", pl)
	}
	if d.Message.Subject != "hello from swaks" || !strings.Contains(d.Message.Text, "the body") {
		t.Errorf("payload message: subject %q, text %q", d.Message.Subject, d.Message.Text)
	}
	if d.Auth == nil || !d.Auth.Trusted {
		t.Errorf("payload auth: %+v, want the trusted loopback client's results", d.Auth)
	}
	if posts[0].id == "" || d.ID == "" {
		t.Errorf("webhook-id %q, data.id %q: want both", posts[0].id, d.ID)
	}
	// Once delivered, to the Maildir too, nothing waits in the queue.
	waitDelivered(t, s, posts[0].id)
	if got := files(t, filepath.Join(root, "example.com", "me", "new")); len(got) != 1 {
		t.Errorf("%d messages in the Maildir, want 1", len(got))
	}
	if out := queueCmd(t, filepath.Join(root, queueDir), "list"); out != "0 messages\n" {
		t.Errorf("inbox queue list after the delivery:\n%s", out)
	}
}

// waitDelivered waits for the inbox's record that the message of the
// delivery attempt (a webhook-id, "<message id>.<n>") has left the queue,
// every delivery done; the inbox must run with -log-level debug.
func waitDelivered(t *testing.T, s *server, attempt string) {
	t.Helper()
	id := attempt[:max(strings.LastIndexByte(attempt, '.'), 0)]
	re := regexp.MustCompile(`msg="queue: message done" id=` + regexp.QuoteMeta(id) + `\b`)
	if s.waitLog(re, 20*time.Second) == nil {
		t.Fatalf("no record that message %s left the queue", id)
	}
}

// TestWebhookRetries: a receiver that fails twice, then takes the
// message, gets three POSTs with one webhook-id and body, each signed
// afresh; one that answers 410 sends the message to the dead letters,
// from where "inbox queue replay" brings it back with the same id.
func TestWebhookRetries(t *testing.T) {
	dns := dnstest.NewServer(t, testZone())
	for _, tc := range []struct {
		name   string
		status int
	}{{"503", http.StatusServiceUnavailable}, {"429", http.StatusTooManyRequests}, {"stall", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := newReceiver(t, func(ctx context.Context, n int, p post) int {
				if n > 2 {
					return http.StatusOK
				}
				if tc.status == 0 {
					<-ctx.Done() // stalled until the inbox gives up (timeout=300ms)
					return http.StatusOK
				}
				return tc.status
			})
			dir := t.TempDir()
			routes := filepath.Join(dir, "routes")
			write(t, routes, fmt.Sprintf("bob@ webhook %s timeout=300ms\npostmaster@ drop\n", rcv.url))
			s := start(t, "-domain", "inbox.test", "-maildir", "", "-queue", filepath.Join(dir, "q"), "-routes", routes,
				"-webhook-secret", testSecret, "-dns", dns.Addr, "-check-local", "-retry-min", "100ms", "-retry-max", "200ms", "-log-level", "debug")
			msg := message("alice@good.example.org", "retried", body)
			if err := send(dial(t, s.addr), "alice@good.example.org", "bob@inbox.test", msg); err != nil {
				t.Fatalf("send: %v", err)
			}
			posts := rcv.waitFor(30*time.Second, "three POSTs", func(p []post) bool { return len(p) >= 3 })
			for i, p := range posts {
				payloadOf(t, p)
				if p.id != posts[0].id || !bytes.Equal(p.body, posts[0].body) {
					t.Errorf("POST %d: id %s, body of %d bytes; the first had %s, %d bytes", i+1, p.id, len(p.body), posts[0].id, len(posts[0].body))
				}
			}
			pl := payloadOf(t, posts[2])
			if pl.Data.Auth == nil || pl.Data.Auth.SPF.Result != "pass" || pl.Data.Auth.Verdict() != "deliver" {
				t.Errorf("auth in the payload: %+v", pl.Data.Auth)
			}
			waitDelivered(t, s, posts[0].id)
			if out := queueCmd(t, filepath.Join(dir, "q"), "list"); out != "0 messages\n" {
				t.Errorf("inbox queue list after the delivery:\n%s", out)
			}
		})
	}

	t.Run("410", func(t *testing.T) {
		rcv, answer := newSwitchReceiver(t, http.StatusGone)
		dir := t.TempDir()
		q := filepath.Join(dir, "q")
		s := start(t, "-domain", "inbox.test", "-maildir", "", "-queue", q, "-webhook", rcv.url,
			"-webhook-secret", testSecret, "-dns", dns.Addr, "-check-local", "-log-level", "debug")
		if err := send(dial(t, s.addr), "alice@good.example.org", "bob@inbox.test", message("alice@good.example.org", "gone", body)); err != nil {
			t.Fatalf("send: %v", err)
		}
		first := rcv.waitFor(20*time.Second, "the POST", func(p []post) bool { return len(p) >= 1 })[0]
		if s.waitLog(regexp.MustCompile(`msg="queue: message moved to the dead letters"`), 20*time.Second) == nil {
			t.Fatal("no dead letter")
		}
		dead := queueCmd(t, q, "dead")
		if !strings.Contains(dead, "dead") || !strings.Contains(dead, "bob@inbox.test") {
			t.Errorf("inbox queue dead:\n%s", dead)
		}
		id := strings.Fields(dead)[0]
		answer(http.StatusOK)
		queueCmd(t, q, "replay", id)
		again := rcv.waitFor(20*time.Second, "the replayed POST", func(p []post) bool { return len(p) >= 2 })[1]
		if again.id != first.id || !bytes.Equal(again.body, first.body) {
			t.Errorf("replayed POST: id %s, want %s; same body %v", again.id, first.id, bytes.Equal(again.body, first.body))
		}
		waitDelivered(t, s, again.id)
		if out := queueCmd(t, q, "list"); out != "0 messages\n" {
			t.Errorf("inbox queue list after the replay:\n%s", out)
		}
		if out := queueCmd(t, q, "dead"); out != "0 messages\n" {
			t.Errorf("dead letters after the replay:\n%s", out)
		}
	})
}

// write writes a file for a test.
func write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRoutes runs an inbox with a routes file: each recipient's mail goes
// where its most specific pattern says, an unknown recipient is refused
// at RCPT TO, a sync webhook's answer is the SMTP reply, and a queued
// webhook's receiver being down does not touch the reply.
func TestRoutes(t *testing.T) {
	dns := dnstest.NewServer(t, testZone())
	syncRcv, syncAnswer := newSwitchReceiver(t, http.StatusOK)
	down, _ := newSwitchReceiver(t, http.StatusServiceUnavailable)
	dir := t.TempDir()
	root, q, routes := filepath.Join(dir, "mail"), filepath.Join(dir, "q"), filepath.Join(dir, "routes")
	write(t, routes, fmt.Sprintf(`# a test of every action
support@inbox.test     webhook %s sync
orders+*@inbox.test    webhook %s
noreply@               drop
*@inbox.test           maildir
`, syncRcv.url, down.url))
	s := start(t, "-domain", "inbox.test", "-maildir", root, "-queue", q, "-routes", routes,
		"-webhook-secret", testSecret, "-dns", dns.Addr, "-check-local", "-log-level", "debug")
	c := dial(t, s.addr)
	const from = "alice@good.example.org"

	// A catch-all for the domain: any address is a Maildir.
	if err := send(c, from, "carol@inbox.test", message(from, "to-carol", body)); err != nil {
		t.Fatalf("carol: %v", err)
	}
	// Dropped: 250, and nothing kept anywhere.
	if err := send(c, from, "noreply@inbox.test", message(from, "dropped", body)); err != nil {
		t.Fatalf("noreply: %v", err)
	}
	// The queued webhook's receiver is down: the client still hears 250.
	if err := send(c, from, "orders+42@inbox.test", message(from, "order-42", body)); err != nil {
		t.Fatalf("orders+42: %v", err)
	}
	// The sync webhook answers: 2xx is 250; 4xx 550 5.7.1; 5xx 451 4.3.0.
	for _, tc := range []struct {
		status, code int
		enhanced     string
	}{{http.StatusOK, 250, ""}, {http.StatusUnprocessableEntity, 550, "5.7.1"}, {http.StatusBadGateway, 451, "4.3.0"}} {
		syncAnswer(tc.status)
		err := send(c, from, "support@inbox.test", message(from, fmt.Sprintf("support-%d", tc.status), body))
		if tc.code == 250 {
			if err != nil {
				t.Errorf("support@ with the receiver answering %d: %v", tc.status, err)
			}
			continue
		}
		wantCode(t, fmt.Sprintf("support@ with the receiver answering %d", tc.status), err, tc.code, tc.enhanced)
		c.Reset()
	}
	if n := syncRcv.count(); n != 3 {
		t.Errorf("the sync receiver got %d POSTs, want 3", n)
	}

	// The Maildir delivery is queued: wait for carol's message to leave
	// the queue.
	if s.waitLog(regexp.MustCompile(`msg="queue: delivered" .*action=\*@inbox\.test#1`), 20*time.Second) == nil {
		t.Fatal("carol's message was not delivered")
	}
	find(t, filepath.Join(root, "inbox.test", "carol", "new"), "to-carol@")
	if got := anywhere(t, root, "dropped@"); len(got) != 0 {
		t.Errorf("the dropped message was kept: %v", got)
	}
	if got := anywhere(t, root, "support-"); len(got) != 0 {
		t.Errorf("a message for the sync webhook was kept in the Maildirs: %v", got)
	}
	// The order waits in the queue for its receiver, the only message there.
	list := queueCmd(t, q, "list")
	if !strings.Contains(list, "orders+42@inbox.test") || !strings.HasSuffix(list, "\n1 messages\n") {
		t.Errorf("inbox queue list:\n%s", list)
	}

	// No pattern matches a recipient at another domain, and the domain
	// check comes first; nor does anything match once the catch-all is
	// gone: see TestRoutesUnknown.
	err := c.Mail(from, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "a recipient at another domain", c.Rcpt("bob@elsewhere.test", nil), 550, "5.7.1")
}

// TestRoutesUnknown: a recipient whose route stores it in a Maildir it
// may not have (-users) is refused at RCPT TO with 550 5.1.1, as is one
// that no route matches.
func TestRoutesUnknown(t *testing.T) {
	dir := t.TempDir()
	routes := filepath.Join(dir, "routes")
	write(t, routes, "bob@inbox.test maildir\npostmaster@ maildir\n*@inbox.test maildir\n")
	// -users bounds the maildir action: carol matches a route, but has
	// no mailbox.
	// other.test is received, but only its postmaster has a route.
	s := start(t, "-domain", "inbox.test,other.test", "-maildir", filepath.Join(dir, "mail"), "-routes", routes, "-users", "bob")
	c := dial(t, s.addr)
	if err := c.Mail("alice@example.org", nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "an address without a mailbox", c.Rcpt("carol@inbox.test", nil), 550, "5.1.1")
	wantCode(t, "an address without a route", c.Rcpt("bob@other.test", nil), 550, "5.1.1")
	if err := c.Rcpt("bob@inbox.test", nil); err != nil {
		t.Errorf("bob@: %v", err)
	}
	if err := c.Rcpt("postmaster@inbox.test", nil); err != nil {
		t.Errorf("postmaster@: %v", err)
	}
}

// TestRoutesFileErrors: a routes file that cannot work stops the inbox
// before it listens, with a message that names the file, the line and
// what to do.
func TestRoutesFileErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		file  string
		extra []string
		want  string
	}{
		{"bob@inbox.test maildir\n", nil, "no route for postmaster@inbox.test"},
		{"* maildir\nbob@inbox.test maildirs\n", nil, "routes:2: unknown action"},
		{"* webhook https://app.example/ secret=whsec_***\n", nil, "routes:1:"},
		{"* maildir\n", []string{"-maildir", ""}, "maildir with -maildir"},
		{"* maildir\n*@other.test drop\n", nil, ""}, // a pattern for a domain not received is harmless
		{"* webhook http://127.0.0.1:1/hook\n", nil, "routes:1: a webhook needs a secret"},
		{"* maildir\nme@@inbox.test drop\n", nil, "routes:2: "},
		{"* maildir\nMe@ drop\nme@ drop\n", nil, "routes:3: "}, // one pattern, spelt twice
		{"* maildir\n* drop\n", nil, ""},                       // two actions for one pattern
	} {
		routes := filepath.Join(dir, "routes")
		write(t, routes, tc.file)
		args := append([]string{"-domain", "inbox.test", "-maildir", filepath.Join(dir, "mail"), "-queue", filepath.Join(dir, "q"),
			"-routes", routes, "-listen", "127.0.0.1:-1"}, tc.extra...)
		var stderr bytes.Buffer
		code := run(args, &stderr)
		if tc.want == "" {
			// Valid: it gets as far as listening, on a port that is not one.
			if !strings.Contains(stderr.String(), "cannot listen") {
				t.Errorf("%q: exit %d, %s; want it to reach listening", tc.file, code, stderr.String())
			}
			continue
		}
		if code != 1 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%q: exit %d, %s; want 1 and %q", tc.file, code, stderr.String(), tc.want)
		}
	}

	// -webhook without -webhook-secret: the error offers a new secret.
	var stderr bytes.Buffer
	code := run([]string{"-domain", "inbox.test", "-maildir", filepath.Join(dir, "mail"), "-queue", filepath.Join(dir, "q"),
		"-webhook", "http://127.0.0.1:1/hook"}, &stderr)
	if code != 1 || !regexp.MustCompile(`-webhook: a webhook needs a secret.* whsec_[A-Za-z0-9+/]+=*`).MatchString(stderr.String()) {
		t.Errorf("-webhook without a secret: exit %d, %s", code, stderr.String())
	}
}

// TestQueueCommands runs "inbox queue" beside a running inbox whose
// receiver failed once and whose next try is an hour away: "retry"
// makes the running inbox try at once, and "delete" removes a message
// that waits.
func TestQueueCommands(t *testing.T) {
	rcv, answer := newSwitchReceiver(t, http.StatusServiceUnavailable)
	dir := t.TempDir()
	q := filepath.Join(dir, "q")
	s := start(t, "-domain", "inbox.test", "-maildir", "", "-queue", q, "-webhook", rcv.url,
		"-webhook-secret", testSecret, "-retry-min", "1h", "-retry-max", "2h", "-log-level", "debug")
	c := dial(t, s.addr)
	for _, id := range []string{"kept", "deleted"} {
		if err := send(c, "alice@example.org", "bob@inbox.test", message("alice@example.org", id, body)); err != nil {
			t.Fatalf("send %s: %v", id, err)
		}
	}
	for range 2 {
		if s.waitLog(regexp.MustCompile(`msg="queue: try failed"`), 20*time.Second) == nil {
			t.Fatal("no failed try")
		}
	}
	list := queueCmd(t, q, "list")
	if !strings.HasSuffix(list, "\n2 messages\n") || !strings.Contains(list, "next in 1h") && !strings.Contains(list, "next in 59m") {
		t.Fatalf("inbox queue list:\n%s", list)
	}
	var keptID, deletedID string
	for _, p := range rcv.waitFor(0, "", func([]post) bool { return true }) {
		id := p.id[:strings.LastIndexByte(p.id, '.')]
		switch messageIDOf(p.body) {
		case "kept":
			keptID = id
		case "deleted":
			deletedID = id
		}
	}

	queueCmd(t, q, "delete", deletedID)
	answer(http.StatusOK)
	queueCmd(t, q, "retry", "all")
	posts := rcv.waitFor(20*time.Second, "the retried POST", func(p []post) bool { return len(p) >= 3 })
	if got := messageIDOf(posts[2].body); got != "kept" {
		t.Errorf("retried POST is of %q, want the message kept", got)
	}
	waitDelivered(t, s, keptID+".0")
	if out := queueCmd(t, q, "list"); out != "0 messages\n" {
		t.Errorf("inbox queue list at the end:\n%s", out)
	}
	if rcv.count() != 3 {
		t.Errorf("%d POSTs, want 3: the deleted message was POSTed again", rcv.count())
	}
	// Unknown IDs and commands are errors.
	out, err := exec.Command(inboxBin, "queue", "-queue", q, "retry", deletedID).CombinedOutput()
	if err == nil || !strings.Contains(string(out), deletedID) {
		t.Errorf("retry of a deleted message: %v, %s", err, out)
	}
	if out, err := exec.Command(inboxBin, "queue", "-queue", q, "flush").CombinedOutput(); err == nil || !strings.Contains(string(out), "usage: inbox queue") {
		t.Errorf("an unknown command: %v, %s", err, out)
	}
}
