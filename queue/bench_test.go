package queue

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/store"
)

// BenchmarkAdd measures durable commits from 10 concurrent committers (as
// from 10 SMTP sessions) of 1 KiB and 100 KiB messages, by Queue.Add and,
// as the anchor, by store.Maildir delivering the same messages to a
// Maildir on the same disk, in the same run:
//
//	go test -run '^$' -bench Add -benchtime 2000x ./queue/
//
// Each writer commits b.N messages, in 3 rounds whose order alternates so
// that both meet the same state of a shared machine; it reports commits/s
// of each, their ratio (queue/maildir), and the queue's directory fsyncs
// per Add (below 1 when Adds shared them). Files go under os.TempDir().
func BenchmarkAdd(b *testing.B) {
	const conc, rounds = 10, 3
	for _, size := range []int{1 << 10, 100 << 10} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			body := bytes.Repeat([]byte("0123456789abcdef"), size/16)
			root := b.TempDir()
			q, err := Open(filepath.Join(root, "queue"), &Options{Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			defer q.Close()
			md := &store.Maildir{Dir: filepath.Join(root, "Maildir")}
			env := &Envelope{From: "a@example.org", Rcpt: []string{"me@example.com"}}
			senv := &smtpd.Envelope{From: "a@example.org", Rcpt: []string{"me@example.com"}}
			ds := []Delivery{{Action: "inbox", Rcpt: env.Rcpt}}
			writers := []struct {
				name string
				fn   func() error
			}{
				{"queue", func() error {
					_, err := q.Add(context.Background(), env, ds, bytes.NewReader(body))
					return err
				}},
				{"maildir", func() error { return md.Deliver(context.Background(), senv, bytes.NewReader(body)) }},
			}
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
								if err := writers[w].fn(); err != nil {
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
			b.ReportMetric(rate(0), "queue-commits/s")
			b.ReportMetric(rate(1), "maildir-commits/s")
			b.ReportMetric(rate(0)/rate(1), "queue/maildir")
			q.queueSync.mu.Lock()
			b.ReportMetric(float64(q.queueSync.fsyncs)/float64(b.N), "dir-fsyncs/add")
			q.queueSync.mu.Unlock()
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkPickup measures the time from Add's return to the start of
// the message's first try in a running queue, one message at a time, and
// reports its median and 90th percentile:
//
//	go test -run '^$' -bench Pickup -benchtime 2000x ./queue/
func BenchmarkPickup(b *testing.B) {
	q, err := Open(filepath.Join(b.TempDir(), "queue"), &Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	started := make(chan time.Time, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.Run(ctx, RunnerFunc(func(ctx context.Context, m *Message, a *Attempt) error {
			started <- time.Now()
			return nil
		}))
	}()
	defer func() { cancel(); <-done }()
	env := &Envelope{From: "a@example.org"}
	ds := []Delivery{{Action: "inbox"}}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		if _, err := q.Add(context.Background(), env, ds, bytes.NewReader([]byte("Subject: x\r\n\r\nx\r\n"))); err != nil {
			b.Fatal(err)
		}
		added := time.Now()
		lat = append(lat, (<-started).Sub(added))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "median-µs")
	b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds()), "p90-µs")
	b.ReportMetric(0, "ns/op")
}
