package postgres

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ownmx/ownmx/internal/pgtest"
	"github.com/ownmx/ownmx/queue"
)

// TestContention runs 10,000 deliveries with two worker processes on one
// database (this test binary run again, each with its own Queue of two
// workers: four workers on two processes) while ten writers of this
// process add them: each delivery is run exactly once (none twice, none
// missing), both processes run some, and every message leaves the queue.
// The workers record each try in a table of the database. It logs the
// time taken and how the processes shared the work.
func TestContention(t *testing.T) {
	const (
		jobs    = 10_000
		writers = 10
		workers = 2 // processes
		limit   = 5 * time.Minute
	)
	url := pgtest.Shared(t)
	adder := open(t, url, nil) // adds; runs nothing
	db := adder.pool
	if _, err := db.Exec(t.Context(), `CREATE TABLE contention_tries (attempt text NOT NULL, process integer NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	var procs []*exec.Cmd
	for k := range workers {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), contentionURL+"="+url, contentionName+"="+fmt.Sprint("worker", k))
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, cmd)
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			if err := cmd.Wait(); err != nil {
				t.Errorf("worker process %d: %v\n%s", k, err, out.String())
			}
		})
	}

	start := time.Now()
	ids := make(chan string, jobs)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for next.Add(1) <= jobs {
				id, err := adder.Add(t.Context(), &queue.Envelope{From: "a@example.org"}, []queue.Delivery{{Action: "inbox"}}, strings.NewReader("Subject: x\r\n\r\nx\r\n"))
				if err != nil {
					t.Error(err)
					return
				}
				ids <- id
			}
		})
	}
	wg.Wait()
	added := time.Since(start)
	close(ids)
	// Every delivery ran and its result was recorded (its message
	// removed).
	deadline := time.Now().Add(limit)
	for {
		var queued, tried int
		if err := db.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM ownmx_queue_message), (SELECT count(*) FROM contention_tries)`).Scan(&queued, &tried); err != nil {
			t.Fatal(err)
		}
		if queued == 0 && tried >= jobs {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages still queued, %d of %d deliveries tried, %v after the start", queued, tried, jobs, limit)
		}
		time.Sleep(20 * time.Millisecond) // polling counts, bounded by deadline
	}
	drained := time.Since(start)

	tries := map[string]int{}
	rows, err := db.Query(t.Context(), `SELECT attempt, count(*) FROM contention_tries GROUP BY attempt`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		tries[id] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for id := range ids {
		n++
		if c := tries[id+".0"]; c != 1 {
			t.Errorf("%s.0 ran %d times", id, c)
		}
	}
	if n != jobs || len(tries) != jobs {
		t.Errorf("%d messages added, %d attempts ran; want %d of each", n, len(tries), jobs)
	}
	var byProcess []int
	for k := range workers {
		var ran int
		if err := db.QueryRow(t.Context(), `SELECT count(*) FROM contention_tries WHERE process = $1`, procs[k].Process.Pid).Scan(&ran); err != nil {
			t.Fatal(err)
		}
		if ran == 0 {
			t.Errorf("worker process %d ran no delivery", k)
		}
		byProcess = append(byProcess, ran)
	}
	t.Logf("%d deliveries: added by %d writers in %v (%.0f/s); all run and recorded in %v (%.0f/s) by %d processes of 2 workers, which ran %v",
		jobs, writers, added.Round(time.Millisecond), jobs/added.Seconds(), drained.Round(time.Millisecond), jobs/drained.Seconds(), workers, byProcess)
}

// The environment of a worker process of TestContention: the database's
// URL and the Queue's name.
const (
	contentionURL  = "OWNMX_TEST_CONTENTION_URL"
	contentionName = "OWNMX_TEST_CONTENTION_NAME"
)

// contentionWorker is the worker process of TestContention: a Queue of two
// workers whose runner records each try in contention_tries, run until
// SIGTERM. It returns the process's exit code.
func contentionWorker(url, name string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	q, err := Open(ctx, url, &Options{Options: queue.Options{Workers: 2, Logger: quiet}, Name: name, Poll: testPoll})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer q.Close()
	pid := os.Getpid()
	err = q.Run(ctx, queue.RunnerFunc(func(ctx context.Context, m *queue.Message, a *queue.Attempt) error {
		_, err := q.pool.Exec(ctx, `INSERT INTO contention_tries (attempt, process) VALUES ($1, $2)`, a.ID, pid)
		return err
	}))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
