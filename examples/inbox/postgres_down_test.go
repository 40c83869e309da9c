package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ownmx/ownmx/dnsx/dnstest"
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

	// phase is 0 before the stop, 1 while PostgreSQL is down, 2 once its
	// restart has begun: a message whose sending starts and ends in phase
	// 1 was sent while the database was down.
	var phase atomic.Int32
	type result struct {
		id, msg    string
		start, end int32
		err        error
	}
	var (
		mu      sync.Mutex
		results []result
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	ackedBefore, ackedAfter := make(chan struct{}, clients*perConn), make(chan struct{}, clients*perConn)
	// session returns a client in a session with the inbox: cl, or a new
	// one when cl is nil.
	session := func(cl *smtp.Client) (*smtp.Client, error) {
		if cl != nil {
			return cl, nil
		}
		cl, err := smtp.Dial(s.addr)
		if err != nil {
			return nil, err
		}
		cl.CommandTimeout, cl.SubmissionTimeout = 10*time.Second, 10*time.Second
		if err := cl.Hello("client.test"); err != nil {
			cl.Close()
			return nil, err
		}
		return cl, nil
	}
	dialErrs := make(chan error, clients)
	for c := range clients {
		wg.Go(func() {
			retry := time.NewTicker(20 * time.Millisecond) // a sender's pause after a 4xx
			defer retry.Stop()
			var cl *smtp.Client
			defer func() {
				if cl != nil {
					cl.Close()
				}
			}()
			for i := range perConn {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				if cl, err = session(cl); err != nil {
					dialErrs <- err
					return
				}
				id := fmt.Sprintf("down-%d-%04d", c, i)
				r := result{id: id, msg: message(from, id, body), start: phase.Load()}
				r.err = send(cl, from, "bob@inbox.test", r.msg)
				r.end = phase.Load()
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
				var reply *smtp.SMTPError
				switch {
				case r.err == nil && r.start == 2:
					ackedAfter <- struct{}{}
				case r.err == nil:
					ackedBefore <- struct{}{}
				case !errors.As(r.err, &reply):
					return // the session broke: reported below
				default:
					if reply.Code == 421 { // the server closed the session
						cl.Close()
						cl = nil
					}
					select {
					case <-stop:
						return
					case <-retry.C:
					}
				}
			}
		})
	}
	halt := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
	})
	defer halt()
	waitFor := func(acks chan struct{}, n int, what string) {
		t.Helper()
		deadline := time.After(60 * time.Second)
		for range n {
			select {
			case <-acks:
			case <-deadline:
				t.Fatalf("no %d messages answered 250 %s within 60 s", n, what)
			}
		}
	}
	waitFor(ackedBefore, before, "before the stop")
	db.Stop(t)
	phase.Store(1)
	<-time.After(downtime) // the length of the outage, not a synchronisation
	phase.Store(2)
	db.Restart(t)
	waitFor(ackedAfter, after, "after the restart")
	halt()
	close(dialErrs)
	for err := range dialErrs {
		t.Errorf("connecting to the inbox: %v", err)
	}

	ctx := context.Background()
	st, err := storepg.Open(ctx, db.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sent := map[string]string{}
	for _, r := range results {
		sent[r.id] = r.msg
	}
	stored := storedMessages(t, st, "bob@inbox.test", sent)
	var acked, deferred int
	for _, r := range results {
		var reply *smtp.SMTPError
		whileDown := r.start == 1 && r.end == 1
		switch {
		case r.err == nil && whileDown:
			t.Errorf("%s was answered 250 while PostgreSQL was down", r.id)
		case r.err == nil:
			acked++
			if stored[r.id] != 1 {
				t.Errorf("%s was answered 250 and is stored %d times", r.id, stored[r.id])
			}
		case !errors.As(r.err, &reply):
			t.Errorf("%s: %v, want an SMTP reply", r.id, r.err)
		case whileDown && (reply.Code/100 != 4 || reply.EnhancedCode[0] != 4):
			t.Errorf("%s, sent while PostgreSQL was down: %d %v %q, want a temporary refusal", r.id, reply.Code, reply.EnhancedCode, reply.Message)
		case whileDown:
			if reply.Code == 451 {
				deferred++
			}
			if stored[r.id] > 0 {
				t.Errorf("%s was refused with %d while PostgreSQL was down, and is stored", r.id, reply.Code)
			}
		case reply.Code/100 != 4:
			t.Errorf("%s: %d %v %q, want 250 or a temporary failure", r.id, reply.Code, reply.EnhancedCode, reply.Message)
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
