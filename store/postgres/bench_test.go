package postgres_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/store"
)

// BenchmarkDeliver measures durable deliveries from 10 concurrent
// deliverers (as from 10 SMTP sessions) into the Store and, as the
// baseline, into a store.Maildir on the same disk, in the same run:
//
//	go test -run '^$' -bench Deliver -benchtime 2000x ./store/postgres/
//
// Each runs b.N messages in 5 rounds whose order alternates, so that both
// meet the same state of a shared, noisy machine. It reports msgs/s for
// each, their ratio (PostgreSQL/Maildir), this process's CPU µs per
// message (the PostgreSQL server's own CPU is not in it), and the bytes
// the database takes per message: pg_total_relation_size of the four
// tables (heap, TOAST and indexes) over the number of messages. The
// cluster is pgtest's, in os.TempDir() as the Maildir is, with fsync and
// synchronous_commit on.
func BenchmarkDeliver(b *testing.B) {
	const conc, rounds = 10, 5
	for _, size := range []int{1 << 10, 100 << 10} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			s, url := newStore(b, nil)
			root, err := os.MkdirTemp("", "ownmx-bench-")
			if err != nil {
				b.Fatal(err)
			}
			defer os.RemoveAll(root)
			var seq atomic.Int64
			body := base64Body(size)
			message := func() io.Reader {
				head := fmt.Sprintf("From: a@example.org\r\nTo: rcpt@example.com\r\nSubject: bench\r\nMessage-ID: <%d@bench.example.org>\r\n\r\n", seq.Add(1))
				return oneShot(io.MultiReader(strings.NewReader(head), bytes.NewReader(body[:size-len(head)])))
			}
			stores := []struct {
				name string
				st   store.Store
			}{
				{"Maildir", &store.Maildir{Dir: filepath.Join(root, "Maildir")}},
				{"PostgreSQL", s},
			}
			wall := make([]time.Duration, len(stores))
			cpu := make([]time.Duration, len(stores))
			done := make([]int, len(stores))
			per := max(1, b.N/rounds)
			for round := range rounds {
				for k := range stores {
					i := (k + round) % len(stores)
					w, c, err := deliverMany(conc, per, func() error {
						return stores[i].st.Deliver(context.Background(), &smtpd.Envelope{From: "a@example.org", Rcpt: []string{"rcpt@example.com"}}, message())
					})
					if err != nil {
						b.Fatalf("%s: %v", stores[i].name, err)
					}
					wall[i] += w
					cpu[i] += c
					done[i] += per
				}
			}
			b.StopTimer()
			rate := func(i int) float64 { return float64(done[i]) / wall[i].Seconds() }
			for i, st := range stores {
				b.ReportMetric(rate(i), st.name+"-msgs/s")
				b.ReportMetric(float64(cpu[i].Microseconds())/float64(done[i]), st.name+"-cpu-µs/msg")
			}
			b.ReportMetric(rate(1)/rate(0), "PostgreSQL/Maildir")
			db := sqlDB(b, url)
			if _, err := db.Exec(b.Context(), `CHECKPOINT`); err != nil {
				b.Fatal(err)
			}
			perMsg := count(b, db, `SELECT (pg_total_relation_size('mail_messages') + pg_total_relation_size('mail_chunks')
				+ pg_total_relation_size('mail_entries') + pg_total_relation_size('mail_dedup'))
				/ (SELECT count(*) FROM mail_messages)`)
			b.ReportMetric(float64(perMsg), "db-bytes/msg")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// base64Body returns n bytes of base64 lines of random bytes, as an
// attachment is sent: what TOAST's compression cannot shrink much, so that
// db-bytes/msg is not flattered by a repeated pattern.
func base64Body(n int) []byte {
	raw := make([]byte, n)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range raw {
		raw[i] = byte(rng.Uint32())
	}
	enc := base64.StdEncoding.EncodeToString(raw)
	var b bytes.Buffer
	for b.Len() < n {
		line := enc[:76]
		enc = enc[76:]
		b.WriteString(line + "\r\n")
	}
	return b.Bytes()
}

// deliverMany calls deliver n times from conc goroutines and returns the
// wall time and the process's CPU time it took.
func deliverMany(conc, n int, deliver func() error) (wall, cpu time.Duration, err error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conc)
	c0 := processCPU()
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if err := deliver(); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	wall = time.Since(start)
	cpu = processCPU() - c0
	close(errs)
	return wall, cpu, <-errs
}

// processCPU returns the user and system time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
