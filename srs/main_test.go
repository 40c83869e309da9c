package srs

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testSecret is the secret of the tests' forwarder, fwd.example.
var testSecret = []byte("correct horse battery staple")

// testNow is the tests' clock: 2026-03-01, day 20513, timestamp "BB".
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newRewriter returns a Rewriter for fwd.example with testSecret whose
// clock reads *now.
func newRewriter(now *time.Time) *Rewriter {
	return &Rewriter{
		Domain:  "fwd.example",
		Secrets: [][]byte{testSecret},
		Now:     func() time.Time { return *now },
	}
}

// atTestNow returns a Rewriter for fwd.example whose clock reads testNow.
func atTestNow() *Rewriter {
	now := testNow
	return newRewriter(&now)
}
