package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/ownmx/ownmx/dnsx/dnstest"
	"github.com/ownmx/ownmx/internal/pgtest"
	storepg "github.com/ownmx/ownmx/store/postgres"
)

// TestPostgresDown stops PostgreSQL under an inbox with -postgres while a
// client sends: while it is down every message is answered 451 and none
// is stored, and once it is back the same inbox, never restarted, answers
// 250 again. Every message answered 250 is in the database, intact; none
// answered 451 is.
func TestPostgresDown(t *testing.T) {
	db := pgtest.Start(t)
	dns := dnstest.NewServer(t, testZone())
	s := start(t, "-domain", "inbox.test", "-users", "bob", "-postgres", db.URL(), "-maildir", filepath.Join(t.TempDir(), "mail"),
		"-dns", dns.Addr, "-check-local", "-hostname", "mx.inbox.test")
	const from = "alice@good.example.org"
	sent := map[string]string{}
	acked, deferred := map[string]bool{}, map[string]bool{}
	n := 0
	// try sends one message and reports its reply's code.
	try := func() int {
		n++
		id := fmt.Sprintf("down-%03d", n)
		msg := message(from, id, body)
		sent[id] = msg
		err := send(dial(t, s.addr), from, "bob@inbox.test", msg)
		var e *smtp.SMTPError
		switch {
		case err == nil:
			acked[id] = true
			return 250
		case errors.As(err, &e):
			if e.Code/100 == 4 {
				deferred[id] = true
			}
			return e.Code
		default:
			t.Fatalf("%s: %v", id, err)
			return 0
		}
	}
	for range 5 {
		if code := try(); code != 250 {
			t.Fatalf("before the outage: %d", code)
		}
	}
	db.Stop(t)
	for range 5 {
		if code := try(); code != 451 {
			t.Fatalf("PostgreSQL down: %d, want 451", code)
		}
	}
	db.Restart(t)
	deadline := time.Now().Add(30 * time.Second)
	for try() != 250 {
		if time.Now().After(deadline) {
			t.Fatal("no 250 within 30 s of the restart")
		}
	}
	for range 5 {
		if code := try(); code != 250 {
			t.Fatalf("after the restart: %d", code)
		}
	}

	ctx := context.Background()
	st, err := storepg.Open(ctx, db.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stored := storedMessages(t, st, "bob@inbox.test", sent)
	for id := range acked {
		if stored[id] == 0 {
			t.Errorf("%s answered 250, not stored", id)
		}
	}
	for id := range deferred {
		if stored[id] > 0 {
			t.Errorf("%s answered 451, stored", id)
		}
	}
	t.Logf("%d answered 250, %d answered 451 while PostgreSQL was down; %d stored", len(acked), len(deferred), len(stored))
}
