package main

import (
	"context"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestWebhookCrashSafety kills the inbox with SIGKILL, four times, while
// clients send a burst of messages to a -webhook whose receiver is slow
// and fails one POST in four; the inbox is started again on the same queue
// each time. In the end every message answered 250 reaches the receiver,
// whole and signed; a message POSTed more than once always carries the
// same webhook-id; and the queue is empty, with nothing left in its tmp/.
func TestWebhookCrashSafety(t *testing.T) {
	const (
		rounds    = 4
		clients   = 4
		perClient = 60 // a bound: the kill comes long before
	)
	var failures atomic.Int64
	rcv := newReceiver(t, func(ctx context.Context, n int, p post) int {
		time.Sleep(time.Duration(rand.IntN(5)) * time.Millisecond) // a slow receiver, not synchronisation
		if n%4 == 0 {
			failures.Add(1)
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	dir := t.TempDir()
	q := filepath.Join(dir, "q")
	args := []string{"-domain", "inbox.test", "-maildir", "", "-queue", q, "-webhook", rcv.url,
		"-webhook-secret", testSecret, "-retry-min", "50ms", "-retry-max", "200ms", "-hostname", "mx.inbox.test"}
	const from = "alice@good.example.org"

	sent := map[string]string{} // every message sent or begun, by id
	acked := map[string]bool{}  // those answered 250

	for round := range rounds + 1 {
		if round == rounds {
			// The last start drains the queue: every message answered 250
			// arrives and is taken (2xx); then the queue empties, with a
			// record for each delivery (-log-level debug).
			s := start(t, append(args, "-log-level", "debug")...)
			rcv.waitFor(60*time.Second, "every message answered 250", func(posts []post) bool {
				got := map[string]bool{}
				for _, p := range posts {
					if p.status/100 == 2 {
						got[messageIDOf(p.body)] = true
					}
				}
				for id := range acked {
					if !got[id] {
						return false
					}
				}
				return true
			})
			for {
				changed := s.logChanged()
				out := queueCmd(t, q, "list")
				if out == "0 messages\n" {
					break
				}
				select {
				case <-changed:
				case <-time.After(20 * time.Second):
					t.Fatalf("the queue is not emptying:\n%s", out)
				}
			}
			break
		}
		s := start(t, args...)

		killAfter := int64(20 + 10*round)
		n := (&burst{from: from, sent: sent, acked: acked}).run(s, round, clients, perClient, killAfter)
		if n < killAfter {
			t.Fatalf("round %d: burst ended after %d messages, before the kill at %d", round, n, killAfter)
		}
		t.Logf("round %d: killed after %d messages answered 250; %d POSTs so far", round, n, rcv.count())
	}

	// Every POST is a whole message that was sent, signed; a message
	// POSTed twice has one webhook-id.
	posts := rcv.waitFor(0, "", func([]post) bool { return true })
	ids := map[string]string{}
	taken := map[string]bool{} // messages a POST of which got 2xx
	repeats := 0               // POSTs of a message already taken
	for _, p := range posts {
		pl := payloadOf(t, p)
		id := messageIDOf(p.body)
		msg, ok := sent[id]
		if !ok {
			t.Errorf("POST %s: message %q was never sent", p.id, id)
			continue
		}
		if want := textOf(msg); pl.Data.Message.Text != want {
			t.Errorf("POST %s (%s): text of %d bytes, want the %d sent", p.id, id, len(pl.Data.Message.Text), len(want))
		}
		if prev, ok := ids[id]; ok && prev != p.id {
			t.Errorf("%s POSTed with webhook-id %s and %s", id, prev, p.id)
		}
		ids[id] = p.id
		if taken[id] {
			repeats++ // allowed: its done record was cut off by a kill
		}
		if p.status/100 == 2 {
			taken[id] = true
		}
	}
	t.Logf("%d POSTs for %d messages (%d answered 250), %d answered 503, %d repeats of a message already taken (at most one per delivery in flight at a kill)",
		len(posts), len(ids), len(acked), failures.Load(), repeats)

	// Nothing is left half-written.
	if out := queueCmd(t, q, "dead"); out != "0 messages\n" {
		t.Errorf("dead letters:\n%s", out)
	}
	entries, err := os.ReadDir(filepath.Join(q, "tmp"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("queue tmp/ holds %s", e.Name())
	}
}

// messageIDOf returns the id in the Message-ID of a webhook's JSON
// payload.
func messageIDOf(body []byte) string {
	s := string(body)
	i := strings.Index(s, `"message_id":"`)
	if i < 0 {
		return ""
	}
	s = s[i+len(`"message_id":"`):]
	s, _, _ = strings.Cut(s, `"`)
	id, _, _ := strings.Cut(s, "@")
	return id
}

// textOf returns the body of a message as the payload's text has it.
func textOf(msg string) string {
	_, body, _ := strings.Cut(msg, "\r\n\r\n")
	return body
}
