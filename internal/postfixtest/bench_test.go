package postfixtest

import (
	"testing"
	"time"
)

// BenchmarkStartStop starts and stops one instance per iteration and
// reports each half's time.
func BenchmarkStartStop(b *testing.B) {
	var starting, stopping time.Duration
	for b.Loop() {
		t0 := time.Now()
		in, err := start(b.Context(), b.TempDir(), Options{Domains: []string{"example.com"}}, b.Logf)
		t1 := time.Now()
		if in != nil {
			if err := in.stop(); err != nil {
				b.Error(err)
			}
		}
		if err != nil {
			b.Fatal(err)
		}
		starting += t1.Sub(t0)
		stopping += time.Since(t1)
	}
	b.ReportMetric(float64(starting.Milliseconds())/float64(b.N), "start-ms/op")
	b.ReportMetric(float64(stopping.Milliseconds())/float64(b.N), "stop-ms/op")
}
