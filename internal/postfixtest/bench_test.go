package postfixtest

import (
	"os/exec"
	"testing"
	"time"
)

// BenchmarkStartStop starts and stops one instance per iteration and
// reports each half's time. Its baseline, measured in the same run, is one
// run of postconf(1), the program Postfix's start script runs most: start
// and stop costs are read as multiples of it, which holds on a loaded
// machine as well.
func BenchmarkStartStop(b *testing.B) {
	b.Run("baseline=postconf", func(b *testing.B) {
		for b.Loop() {
			if out, err := exec.Command("/usr/sbin/postconf", "-dh", "mail_version").CombinedOutput(); err != nil {
				b.Fatalf("postconf: %v %s", err, out)
			}
		}
	})
	b.Run("instance", func(b *testing.B) {
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
	})
}
