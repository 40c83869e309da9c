package prometheus_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"

	smtpprom "github.com/ownmx/ownmx/metrics/prometheus"
	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// BenchmarkObserver weighs the SMTP metrics (every event of the Observer
// counted in a Prometheus registry: connections, replies, handler times,
// messages and sizes) against no Observer, in one run, over real SMTP
// sessions on loopback: 10 clients at once, each connection sending one
// 1 KiB message (the case with the most events per byte) or ten. The two
// servers take rounds of 100 messages in turn, so that a change in the
// machine's load meets both alike; it reports each one's msgs/s and
// time-ratio, the time with metrics over the time without.
func BenchmarkObserver(b *testing.B) {
	msg := benchMessage(1 << 10)
	for _, perConn := range []int{1, 10} {
		name := "1msg-per-conn"
		if perConn > 1 {
			name = "10msgs-per-conn"
		}
		b.Run(name, func(b *testing.B) {
			none := smtptest.Start(b, discardServer(nil))
			prom := smtptest.Start(b, discardServer(smtpprom.NewSMTP(prometheus.NewRegistry()).Observer()))
			const round = 100
			var tNone, tProm time.Duration
			b.SetBytes(int64(len(msg)))
			b.ResetTimer()
			for done, i := 0, 0; done < b.N; done, i = done+round, i+1 {
				n := min(round, b.N-done)
				first, second, t1, t2 := none, prom, &tNone, &tProm
				if i%2 == 1 {
					first, second, t1, t2 = prom, none, &tProm, &tNone
				}
				*t1 += runLoad(b, first, msg, n, perConn)
				*t2 += runLoad(b, second, msg, n, perConn)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/tNone.Seconds(), "none-msgs/s")
			b.ReportMetric(float64(b.N)/tProm.Seconds(), "prometheus-msgs/s")
			b.ReportMetric(tProm.Seconds()/tNone.Seconds(), "time-ratio")
		})
	}
}

// discardServer is a server that reads and discards every message, with
// obs as its Observer.
func discardServer(obs *smtpd.Observer) *smtpd.Server {
	return &smtpd.Server{
		Hostname: "mx.example.com",
		Logger:   slog.New(slog.DiscardHandler),
		Rcpt:     smtpd.AcceptDomains("example.com"),
		Data: smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
			_, err := io.Copy(io.Discard, r)
			return err
		}),
		Observer: obs,
	}
}

// runLoad sends n messages to addr from 10 clients at once, perConn
// messages on each connection before the next, and returns how long it
// took.
func runLoad(b *testing.B, addr, msg string, n, perConn int) time.Duration {
	const clients = 10
	start := time.Now()
	var wg sync.WaitGroup
	for i := range clients {
		k := n / clients
		if i < n%clients {
			k++
		}
		wg.Go(func() {
			for sent := 0; sent < k; sent += perConn {
				if err := sendOn(addr, msg, min(perConn, k-sent)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

// sendOn opens a connection to addr, sends msg n times on it and quits.
func sendOn(addr, msg string, n int) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.CommandTimeout, c.SubmissionTimeout = 10*time.Second, 10*time.Second
	if err := c.Hello("client.example.org"); err != nil {
		return err
	}
	for range n {
		if err := c.SendMail("alice@example.org", []string{"bob@example.com"}, strings.NewReader(msg)); err != nil {
			return err
		}
	}
	return c.Quit()
}

// benchMessage is a message of about size bytes.
func benchMessage(size int) string {
	var sb strings.Builder
	sb.WriteString("From: alice@example.org\r\nTo: bob@example.com\r\nSubject: benchmark\r\n\r\n")
	line := strings.Repeat("0123456789abcdef", 5)[:74] + "\r\n"
	for sb.Len()+len(line) <= size {
		sb.WriteString(line)
	}
	return sb.String()
}

// BenchmarkSessionEvents is the CPU the Prometheus Observer spends on the
// events of one session that sends one message (the connection, 7
// replies, 3 handler calls, the message), without the network: to set
// against the time of a session in BenchmarkObserver.
func BenchmarkSessionEvents(b *testing.B) {
	obs := smtpprom.NewSMTP(prometheus.NewRegistry()).Observer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			obs.ConnOpened()
			obs.Reply("", 220, smtpd.EnhancedCode{})
			obs.Reply("EHLO", 250, smtpd.EnhancedCode{})
			obs.Handler("MAIL", time.Millisecond)
			obs.Reply("MAIL", 250, smtpd.EnhancedCode{2, 1, 0})
			obs.Handler("RCPT", time.Millisecond)
			obs.Reply("RCPT", 250, smtpd.EnhancedCode{2, 1, 5})
			obs.Reply("DATA", 354, smtpd.EnhancedCode{})
			obs.Handler("DATA", time.Millisecond)
			obs.MessageAccepted(1024, 1)
			obs.Reply("DATA", 250, smtpd.EnhancedCode{2, 0, 0})
			obs.Reply("QUIT", 221, smtpd.EnhancedCode{2, 0, 0})
			obs.ConnClosed(10*time.Millisecond, smtpd.CloseQuit)
		}
	})
}
