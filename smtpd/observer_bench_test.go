package smtpd_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// BenchmarkObserver weighs an Observer that counts every event against
// none, in one run, with one 1 KiB message per connection (the case with
// the most events per byte). Compare the two msgs/s.
func BenchmarkObserver(b *testing.B) {
	msg := benchMessage(1 << 10)
	b.Run("none", func(b *testing.B) { runLoad(b, startDiscard(b), msg, 1) })
	b.Run("counting", func(b *testing.B) {
		var opened, closed, replies atomic.Int64
		srv := discardServer()
		srv.Observer = &smtpd.Observer{
			ConnOpened: func() { opened.Add(1) },
			ConnClosed: func(time.Duration, smtpd.CloseReason) { closed.Add(1) },
			Reply:      func(string, int, smtpd.EnhancedCode) { replies.Add(1) },
		}
		runLoad(b, smtptest.Start(b, srv), msg, 1)
	})
}
