package postgres

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ownmx/ownmx/internal/pgtest"
	"github.com/ownmx/ownmx/queue"
)

// BenchmarkAdd measures durable commits from 10 concurrent committers (as
// from 10 SMTP sessions) of 1 KiB and 100 KiB messages by Queue.Add
// (PostgreSQL, synchronous_commit on, on a pgtest server on this machine)
// and, as the anchor, by the local queue.Queue.Add in a directory on the
// same disk, in the same run:
//
//	go test -run '^$' -bench Add -benchtime 2000x ./queue/postgres/
//
// Each writer commits b.N messages, in 3 rounds whose order alternates so
// that both meet the same state of a shared machine; it reports commits/s
// of each and their ratio (postgres/local).
func BenchmarkAdd(b *testing.B) {
	const conc, rounds = 10, 3
	for _, size := range []int{1 << 10, 100 << 10} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			body := bytes.Repeat([]byte("0123456789abcdef"), size/16)
			pq := open(b, pgtest.Shared(b), nil)
			lq, err := queue.Open(filepath.Join(b.TempDir(), "queue"), &queue.Options{Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			defer lq.Close()
			env := &queue.Envelope{From: "a@example.org", Rcpt: []string{"me@example.com"}}
			ds := []queue.Delivery{{Action: "inbox", Rcpt: env.Rcpt}}
			writers := []struct {
				name string
				q    interface {
					Add(context.Context, *queue.Envelope, []queue.Delivery, io.Reader) (string, error)
				}
			}{{"postgres", pq}, {"local", lq}}
			elapsed := make([]time.Duration, len(writers))
			b.ResetTimer()
			for round := range rounds {
				for k := range writers {
					w := (k + round) % len(writers)
					n := b.N / rounds
					if round == rounds-1 {
						n = b.N - (rounds-1)*(b.N/rounds)
					}
					var next atomic.Int64
					var wg sync.WaitGroup
					start := time.Now()
					for range conc {
						wg.Go(func() {
							for next.Add(1) <= int64(n) {
								if _, err := writers[w].q.Add(context.Background(), env, ds, bytes.NewReader(body)); err != nil {
									b.Error(err)
									return
								}
							}
						})
					}
					wg.Wait()
					elapsed[w] += time.Since(start)
				}
			}
			b.StopTimer()
			rate := func(i int) float64 { return float64(b.N) / elapsed[i].Seconds() }
			b.ReportMetric(rate(0), "postgres-commits/s")
			b.ReportMetric(rate(1), "local-commits/s")
			b.ReportMetric(rate(0)/rate(1), "postgres/local")
			b.ReportMetric(0, "ns/op")
		})
	}
}
