package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ownmx/ownmx/dnsx/dnstest"
	"github.com/ownmx/ownmx/internal/outagetest"
	"github.com/ownmx/ownmx/internal/pgtest"
	storepg "github.com/ownmx/ownmx/store/postgres"
)

// TestPostgresDown stops PostgreSQL for 5 s under an inbox with -postgres
// while four clients send, each in a session that it opens again when the
// server closes it, as an MTA does (the server closes a session after ten
// transactions without a message, with 421). While the database is down
// every message is refused with a temporary reply, 451 at DATA, and none
// answered 250; once it is back the same inbox, never restarted, answers
// 250 again. Every message answered 250 is in the database once, intact;
// none sent entirely while it was down is. After the burst the inbox holds
// no more connections to PostgreSQL than its pool's bound.
func TestPostgresDown(t *testing.T) {
	const (
		clients  = 4
		perConn  = 1000 // the most messages a client sends
		poolMax  = 3
		before   = 20 // 250s before the stop
		after    = 20 // 250s of messages sent after the restart
		downtime = 5 * time.Second
	)
	db := pgtest.Start(t)
	dns := dnstest.NewServer(t, testZone())
	url := db.URL() + fmt.Sprintf("&application_name=inbox-down&pool_max_conns=%d", poolMax)
	s := start(t, "-domain", "inbox.test", "-users", "bob", "-postgres", url, "-maildir", filepath.Join(t.TempDir(), "mail"),
		"-dns", dns.Addr, "-check-local", "-hostname", "mx.inbox.test")
	const from = "alice@good.example.org"

	// Each client keeps a session, and opens a new one when the server
	// closed it (421) or it broke.
	sessions := make([]*smtp.Client, clients)
	defer func() {
		for _, cl := range sessions {
			if cl != nil {
				cl.Close()
			}
		}
	}()
	results := outagetest.Burst{
		Clients: clients, PerClient: perConn, Before: before, After: after, Downtime: downtime,
		Stop:    func() { db.Stop(t) },
		Restart: func() { db.Restart(t) },
		Send: func(c, n int) (string, error) {
			id := fmt.Sprintf("down-%d-%04d", c, n)
			if sessions[c] == nil {
				cl, err := smtp.Dial(s.addr)
				if err != nil {
					return id, err
				}
				cl.CommandTimeout, cl.SubmissionTimeout = 10*time.Second, 10*time.Second
				if err := cl.Hello("client.test"); err != nil {
					cl.Close()
					return id, err
				}
				sessions[c] = cl
			}
			err := send(sessions[c], from, "bob@inbox.test", message(from, id, body))
			if reply := (*smtp.SMTPError)(nil); err != nil && (!errors.As(err, &reply) || reply.Code == 421) {
				sessions[c].Close()
				sessions[c] = nil
			}
			return id, err
		},
	}.Run(t)

	ctx := context.Background()
	st, err := storepg.Open(ctx, db.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sent := map[string]string{}
	for _, r := range results {
		sent[r.ID] = message(from, r.ID, body)
	}
	stored := storedMessages(t, st, "bob@inbox.test", sent)
	var acked, deferred int
	for _, r := range results {
		var reply *smtp.SMTPError
		switch {
		case r.Err == nil && r.WhileDown():
			t.Errorf("%s was answered 250 while PostgreSQL was down", r.ID)
		case r.Err == nil:
			acked++
			if stored[r.ID] != 1 {
				t.Errorf("%s was answered 250 and is stored %d times", r.ID, stored[r.ID])
			}
		case !errors.As(r.Err, &reply):
			t.Errorf("%s: %v, want an SMTP reply", r.ID, r.Err)
		case r.WhileDown() && (reply.Code/100 != 4 || reply.EnhancedCode[0] != 4):
			t.Errorf("%s, sent while PostgreSQL was down: %d %v %q, want a temporary refusal", r.ID, reply.Code, reply.EnhancedCode, reply.Message)
		case r.WhileDown():
			if reply.Code == 451 {
				deferred++
			}
			if stored[r.ID] > 0 {
				t.Errorf("%s was refused with %d while PostgreSQL was down, and is stored", r.ID, reply.Code)
			}
		case reply.Code/100 != 4:
			t.Errorf("%s: %d %v %q, want 250 or a temporary failure", r.ID, reply.Code, reply.EnhancedCode, reply.Message)
		}
	}
	if deferred < clients {
		t.Errorf("%d messages answered 451 while PostgreSQL was down, want at least one a client (%d)", deferred, clients)
	}
	t.Logf("%d messages sent by %d clients, %d answered 250 (each stored once), %d answered 451 while PostgreSQL was down for %v",
		len(results), clients, acked, deferred, downtime)

	pool, err := pgxpool.New(ctx, db.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var conns int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'inbox-down'`).Scan(&conns); err != nil {
		t.Fatal(err)
	}
	if conns > poolMax {
		t.Errorf("after the burst the inbox holds %d connections to PostgreSQL, want at most %d (pool_max_conns)", conns, poolMax)
	}
}
