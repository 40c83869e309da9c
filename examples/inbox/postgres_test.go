package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ownmx/ownmx/dnsx/dnstest"
	"github.com/ownmx/ownmx/internal/pgtest"
	storepg "github.com/ownmx/ownmx/store/postgres"
)

// TestPostgres runs the inbox with -postgres: a message to bob is in his
// Inbox in the database, byte for byte below the added fields, and nothing
// is written under -maildir but the spool; an unknown user is refused. A
// routes file sends bob's mail to a webhook that fails as well: the
// delivery waits in the queue in the database, which "inbox queue
// -postgres URL list" shows.
func TestPostgres(t *testing.T) {
	dbURL := pgtest.Shared(t)
	dns := dnstest.NewServer(t, testZone())
	dir := t.TempDir()
	hook := newReceiver(t, func(ctx context.Context, n int, p post) int { return http.StatusServiceUnavailable })
	routes := filepath.Join(dir, "routes")
	write(t, routes, "* maildir\nbob@ maildir\nbob@ webhook "+hook.url+"\n")
	s := start(t, "-domain", "inbox.test", "-users", "bob", "-postgres", dbURL, "-maildir", filepath.Join(dir, "mail"),
		"-routes", routes, "-webhook-secret", testSecret,
		"-dns", dns.Addr, "-check-local", "-hostname", "mx.inbox.test", "-retry-min", "1h", "-retry-max", "1h")

	msg := message("alice@good.example.org", "in-postgres", body)
	if err := send(dial(t, s.addr), "alice@good.example.org", "bob@inbox.test", msg); err != nil {
		t.Fatalf("send: %v", err)
	}
	wantCode(t, "RCPT to an unknown user", send(dial(t, s.addr), "alice@good.example.org", "carol@inbox.test", msg), 550, "5.1.1")

	ctx := context.Background()
	st, err := storepg.Open(ctx, dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var list []storepg.Summary
	eventually(t, "the message in bob's Inbox", func() bool {
		list, _, err = st.List(ctx, "bob@inbox.test", storepg.Inbox, storepg.Page{})
		return err == nil && len(list) == 1
	})
	rc, err := st.Open(ctx, list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !strings.HasSuffix(string(stored), msg) {
		t.Errorf("stored (%v):\n%s\nwant it to end with the message sent", err, stored)
	}
	if files := anywhere(t, filepath.Join(dir, "mail"), "in-postgres@"); len(files) != 0 {
		t.Errorf("the message is under -maildir too: %v", files)
	}

	hook.waitFor(30*time.Second, "a POST", func(p []post) bool { return len(p) >= 1 })
	var out string
	eventually(t, "the failed delivery listed", func() bool {
		out = queueCmd(t, "", "-postgres", dbURL, "list")
		return strings.Contains(out, "bob@#2") && strings.Contains(out, "tries 1") && strings.Contains(out, "1 messages")
	})
	t.Logf("inbox queue -postgres URL list:\n%s", out)
}

// eventually polls cond every 20 ms until it holds, for up to 30 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 30 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// storedMessages reads every message in mailbox's Inbox in st and returns
// how many times each id of sent is there; the test fails on a message
// that is not one of sent, whole, behind the fields the server added.
func storedMessages(t *testing.T, st *storepg.Store, mailbox string, sent map[string]string) map[string]int {
	t.Helper()
	ctx := context.Background()
	list, _, err := st.List(ctx, mailbox, storepg.Inbox, storepg.Page{Size: -1})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]int{}
	for _, entry := range list {
		rc, err := st.Open(ctx, entry.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		m := messageID.FindSubmatch(b)
		if m == nil {
			t.Fatalf("stored message %d is none of those sent:\n%.300s", entry.ID, b)
		}
		id := string(m[1])
		if _, err := splitAdded(b, sent[id]); err != nil {
			t.Fatalf("stored message %d (%s): %.300v", entry.ID, id, err)
		}
		stored[id]++
	}
	return stored
}
