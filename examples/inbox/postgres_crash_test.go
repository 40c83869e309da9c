package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/ownmx/ownmx/dnsx/dnstest"
	"github.com/ownmx/ownmx/internal/pgtest"
	storepg "github.com/ownmx/ownmx/store/postgres"
)

// TestPostgresCrash runs three inbox processes on one database, sends a
// burst to all three, and kills one with SIGKILL in the middle of it, then
// starts it again. Every message answered 250, by any of them, is in bob's
// Inbox once and intact behind the fields the server added; the webhook
// of each such message is POSTed, and every POST of one message carries
// one webhook-id (a delivery that the killed host held is run by another
// once its lease of 2 s ends, under the same id).
func TestPostgresCrash(t *testing.T) {
	const (
		servers   = 3
		clients   = 6 // two a server
		perClient = 40
		killAfter = 30
	)
	dbURL := pgtest.Shared(t)
	dns := dnstest.NewServer(t, testZone())
	dir := t.TempDir()
	hook := newReceiver(t, func(ctx context.Context, n int, p post) int { return http.StatusNoContent })
	routes := filepath.Join(dir, "routes")
	write(t, routes, "* maildir\nbob@ maildir\nbob@ webhook "+hook.url+" raw\n")
	argsFor := func(i int) []string {
		return []string{"-domain", "inbox.test", "-users", "bob", "-postgres", dbURL, "-maildir", filepath.Join(dir, fmt.Sprint("mail", i)),
			"-routes", routes, "-webhook-secret", testSecret, "-dns", dns.Addr, "-check-local", "-hostname", fmt.Sprintf("mx%d.inbox.test", i),
			"-retry-min", "100ms", "-retry-max", "200ms", "-queue-lease", "2s"}
	}
	var srvs []*server
	for i := range servers {
		srvs = append(srvs, start(t, argsFor(i)...))
	}

	const from = "alice@good.example.org"
	var (
		mu    sync.Mutex
		sent  = map[string]string{}
		acked = map[string]bool{}
		n     atomic.Int64
		wg    sync.WaitGroup
	)
	victim := srvs[1]
	for c := range clients {
		s := srvs[c%servers]
		wg.Go(func() {
			cl, err := smtp.Dial(s.addr)
			if err != nil {
				return
			}
			defer cl.Close()
			cl.CommandTimeout, cl.SubmissionTimeout = 10*time.Second, 10*time.Second
			if err := cl.Hello("client.test"); err != nil {
				return
			}
			for i := range perClient {
				id := fmt.Sprintf("pg-%d-%03d", c, i)
				msg := message(from, id, crashBody(id, i))
				mu.Lock()
				sent[id] = msg
				mu.Unlock()
				if err := send(cl, from, "bob@inbox.test", msg); err != nil {
					return // the victim is gone
				}
				mu.Lock()
				acked[id] = true
				mu.Unlock()
				if n.Add(1) == killAfter {
					victim.cmd.Process.Kill()
				}
			}
		})
	}
	wg.Wait()
	victim.kill()
	if n.Load() < killAfter {
		t.Fatalf("the burst ended after %d messages, before the kill at %d", n.Load(), killAfter)
	}
	srvs[1] = start(t, argsFor(1)...)
	id := "pg-after-restart"
	msg := message(from, id, body)
	if err := send(dial(t, srvs[1].addr), from, "bob@inbox.test", msg); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	sent[id], acked[id] = msg, true

	// The store: every message answered 250 once, intact.
	ctx := context.Background()
	st, err := storepg.Open(ctx, dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var stored map[string]int
	eventually(t, "every message answered 250 stored", func() bool {
		stored = storedMessages(t, st, "bob@inbox.test", sent)
		for id := range acked {
			if stored[id] == 0 {
				return false
			}
		}
		return true
	})
	for id, k := range stored {
		if k != 1 {
			t.Errorf("%s stored %d times", id, k)
		}
	}

	// The queue: every message answered 250 POSTed, each with one id.
	ids := map[string]map[string]bool{} // message -> webhook-ids
	hook.waitFor(60*time.Second, "a POST of every message answered 250", func(posts []post) bool {
		clear(ids)
		for _, p := range posts {
			m := messageID.FindSubmatch(p.body)
			if m == nil {
				continue
			}
			if ids[string(m[1])] == nil {
				ids[string(m[1])] = map[string]bool{}
			}
			ids[string(m[1])][p.id] = true
		}
		for id := range acked {
			if len(ids[id]) == 0 {
				return false
			}
		}
		return true
	})
	for id, set := range ids {
		if len(set) != 1 {
			t.Errorf("%s POSTed under %d webhook-ids: %v", id, len(set), set)
		}
	}
	t.Logf("%d answered 250 (the kill after %d), %d stored, %d POSTed, one id each", len(acked), killAfter, len(stored), len(ids))
}
