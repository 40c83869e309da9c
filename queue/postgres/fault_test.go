package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ownmx/ownmx/internal/pgtest"
	"github.com/ownmx/ownmx/queue"
)

// While PostgreSQL is down (stopped, or killed as in a crash), Add fails
// at once rather than hang, and Run goes on: the result of a try that
// ended meanwhile is recorded once the database is back, and messages
// added then run, without Run being started again. Nothing leaks: no
// connection stays acquired after Run, none stays open after Close (and
// goleak, in TestMain, finds no goroutine left).
func TestDatabaseDown(t *testing.T) {
	for _, kill := range []bool{false, true} {
		t.Run(map[bool]string{false: "Stop", true: "Kill"}[kill], func(t *testing.T) {
			s := pgtest.Start(t)
			url := s.CreateDatabase(t)
			q := open(t, url, nil)
			rec := records(q)
			r := make(handRunner, 10)
			stop := run(t, q, r)

			id1 := addOne(t, q)
			r.next(t).reply <- nil
			if got := nextRecord(t, rec); got != (recordedTry{id1 + ".0", true}) {
				t.Fatalf("recorded %+v", got)
			}
			id2 := addOne(t, q)
			inFlight := r.next(t)

			if kill {
				// A take commits without waiting for its flush: one that a
				// crash loses is taken and run again (at least once). Here
				// the take is flushed (by a checkpoint) before the crash,
				// so the try's result must be kept.
				if _, err := connect(t, url).Exec(t.Context(), `CHECKPOINT`); err != nil {
					t.Fatal(err)
				}
				s.Kill(t)
			} else {
				s.Stop(t)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			_, err := q.Add(ctx, &queue.Envelope{}, []queue.Delivery{{Action: "webhook"}}, strings.NewReader("x"))
			cancel()
			if err == nil {
				t.Fatal("Add succeeded while the database was down")
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Add waited for its context's end rather than fail: %v", err)
			}
			inFlight.reply <- nil // its result cannot be recorded yet

			s.Restart(t)
			if got := nextRecord(t, rec); got != (recordedTry{id2 + ".0", true}) {
				t.Fatalf("after the restart, recorded %+v", got)
			}
			id3 := addOne(t, q)
			if tr := r.next(t); tr.attempt.ID != id3+".0" {
				t.Fatalf("after the restart, tried %s, want %s.0", tr.attempt.ID, id3)
			} else {
				tr.reply <- nil
			}
			if got := nextRecord(t, rec); got != (recordedTry{id3 + ".0", true}) {
				t.Fatalf("after the restart, recorded %+v", got)
			}
			infos, err := q.Admin().List(t.Context())
			if err != nil || len(infos) != 0 {
				t.Errorf("List = %+v, %v; want every message done", infos, err)
			}
			select {
			case tr := <-r:
				t.Errorf("%s ran again", tr.attempt.ID)
			default:
			}

			stop()
			// A try's connection goes back to the pool as it ends; the
			// notification of the last Add may still hold one briefly.
			deadline := time.Now().Add(10 * time.Second)
			for q.pool.Stat().AcquiredConns() != 0 {
				if time.Now().After(deadline) {
					t.Fatalf("%d connections still acquired 10s after Run returned", q.pool.Stat().AcquiredConns())
				}
				time.Sleep(10 * time.Millisecond) // polling the pool's counts, bounded by deadline
			}
			closed := make(chan struct{})
			go func() {
				q.Close() // waits for every acquired connection to come back
				close(closed)
			}()
			select {
			case <-closed:
			case <-time.After(10 * time.Second):
				t.Fatal("Close did not return within 10s")
			}
			waitNoConnections(t, url)
		})
	}
}

// waitNoConnections waits until no connection but its own is open to the
// database at url: the server ends a closed connection's process shortly
// after the client leaves.
func waitNoConnections(t *testing.T, url string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections to the database still open 10s after Close", n)
		}
		time.Sleep(10 * time.Millisecond) // polling the server's view, bounded by deadline
	}
}
