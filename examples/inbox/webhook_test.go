package main

import (
	"bytes"
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
	answer func(n int, p post) int

	mu      sync.Mutex
	posts   []post
	changed chan struct{} // closed and replaced at each POST
}

func newReceiver(t *testing.T, answer func(n int, p post) int) *receiver {
	t.Helper()
	r := &receiver{t: t, answer: answer, changed: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return
		}
		p := post{id: req.Header.Get("webhook-id"), timestamp: req.Header.Get("webhook-timestamp"),
			header: req.Header.Clone(), body: b, at: time.Now()}
		r.mu.Lock()
		n := len(r.posts) + 1
		r.mu.Unlock()
		p.status = r.answer(n, p)
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

// waitChange waits, at most timeout, for the next line of the log, and
// reports whether one came.
func (s *server) waitChange(timeout time.Duration) bool {
	s.mu.Lock()
	changed := s.changed
	s.mu.Unlock()
	select {
	case <-changed:
		return true
	case <-time.After(timeout):
		return false
	}
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
	rcv := newReceiver(t, func(int, post) int { return http.StatusNoContent })
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
	if got := files(t, filepath.Join(root, "example.com", "me", "new")); len(got) != 1 {
		t.Errorf("%d messages in the Maildir, want 1", len(got))
	}
	// Once delivered, nothing waits in the queue.
	waitDelivered(t, s, posts[0].id)
	if out := queueCmd(t, filepath.Join(root, queueDir), "list"); out != "0 messages\n" {
		t.Errorf("inbox queue list after the delivery:\n%s", out)
	}
}

// waitDelivered waits for the inbox's record that the delivery attempt
// (a webhook-id) is done; the inbox must run with -log-level debug.
func waitDelivered(t *testing.T, s *server, attempt string) {
	t.Helper()
	re := regexp.MustCompile(`msg="queue: delivered" .*attempt=` + regexp.QuoteMeta(attempt) + `\b`)
	if s.waitLog(re, 20*time.Second) == nil {
		t.Fatalf("no record that %s was delivered", attempt)
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
			release := make(chan struct{})
			rcv := newReceiver(t, func(n int, p post) int {
				if n > 2 {
					return http.StatusOK
				}
				if tc.status == 0 {
					<-release // past the route's timeout
					return http.StatusOK
				}
				return tc.status
			})
			t.Cleanup(func() { close(release) })
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
		gone := true
		var mu sync.Mutex
		rcv := newReceiver(t, func(int, post) int {
			mu.Lock()
			defer mu.Unlock()
			if gone {
				return http.StatusGone
			}
			return http.StatusOK
		})
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
		mu.Lock()
		gone = false
		mu.Unlock()
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
