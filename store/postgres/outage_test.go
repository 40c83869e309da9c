package postgres_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ownmx/ownmx/internal/outagetest"
	"github.com/ownmx/ownmx/internal/pgtest"
	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
	"github.com/ownmx/ownmx/store/postgres"
)

// TestOutageDuringBurst stops PostgreSQL for 5 s while eight clients send
// over SMTP to a server whose Store has four connections. While it is down
// every message is answered 451; every message answered 250 is stored,
// once; once it is back the same Store answers 250 again, unreopened; and
// after the burst the Store holds at most its four connections and the
// process runs no goroutine that it did not run before.
func TestOutageDuringBurst(t *testing.T) {
	const (
		maxConns  = 4
		clients   = 8
		perClient = 1000 // the most messages a client sends
		before    = 40   // 250s before the stop
		after     = 40   // 250s of messages sent after the restart
		down      = 5 * time.Second
	)
	srv := pgtest.Start(t)
	base := srv.CreateDatabase(t)
	s := openStore(t, base+"&application_name=outage", &postgres.Options{MaxConns: maxConns})
	addr := serve(t, s)
	if err := smtptest.Send(addr, "alice@example.org", []string{"me@example.com"}, "Subject: warm\r\n\r\n"); err != nil {
		t.Fatalf("the first message: %v", err)
	}
	db := sqlDB(t, base)
	running := goleak.IgnoreCurrent()

	results := outagetest.Burst{
		Clients: clients, PerClient: perClient, Before: before, After: after, Downtime: down,
		Stop:    func() { srv.Stop(t) },
		Restart: func() { srv.Restart(t) },
		Send: func(c, n int) (string, error) {
			id := fmt.Sprintf("c%d-%04d", c, n)
			return id, smtptest.Send(addr, "alice@example.org", []string{"me@example.com"},
				"Subject: "+id+"\r\nMessage-ID: <"+id+"@outage.test>\r\n\r\nbody of "+id+"\r\n")
		},
	}.Run(t)

	stored := map[string]int{}
	rows, err := db.Query(t.Context(), `SELECT m.subject, count(*) FROM mail_messages m JOIN mail_entries e ON e.message = m.id GROUP BY m.subject`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var subject string
		var n int
		if err := rows.Scan(&subject, &n); err != nil {
			t.Fatal(err)
		}
		stored[subject] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var acked, deferredWhileDown int
	for _, r := range results {
		var reply *smtpd.Error
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
		case r.WhileDown() && (reply.Code != 451 || reply.Enhanced[0] != 4):
			t.Errorf("%s, sent while PostgreSQL was down: %d %v %q, want 451 4.x.x", r.ID, reply.Code, reply.Enhanced, reply.Message)
		case r.WhileDown():
			deferredWhileDown++
		case reply.Code/100 != 4:
			t.Errorf("%s: %d %v %q, want 250 or a temporary failure", r.ID, reply.Code, reply.Enhanced, reply.Message)
		}
	}
	if deferredWhileDown < clients {
		t.Errorf("%d messages answered 451 while PostgreSQL was down, want at least one per client (%d)", deferredWhileDown, clients)
	}
	t.Logf("%d messages sent, %d answered 250 (all stored once), %d answered 451 while PostgreSQL was down for %v",
		len(results), acked, deferredWhileDown, down)

	if n := postgres.Pool(s).Stat().TotalConns(); n > maxConns {
		t.Errorf("after the burst the Store's pool holds %d connections, want at most %d", n, maxConns)
	}
	if n := count(t, db, `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'outage'`); n > maxConns {
		t.Errorf("after the burst PostgreSQL has %d connections of the Store, want at most %d", n, maxConns)
	}
	// The restarted PostgreSQL has a goroutine of pgtest that waits for it.
	goleak.VerifyNone(t, running, goleak.IgnoreAnyFunction("github.com/ownmx/ownmx/internal/pgtest.(*cluster).start.func1"))
}
