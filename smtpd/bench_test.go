package smtpd_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// BenchmarkDelivery compares an smtpd.Server whose Data handler discards
// the message with a bare go-smtp server doing the same, in one run: 10
// sessions at once, many messages per connection, sent with go-smtp's
// client over loopback. Compare the msgs/s of the two sub-benchmarks
// (bench/smtpd-ratio.sh prints the ratio).
func BenchmarkDelivery(b *testing.B) {
	for _, size := range []int{1 << 10, 100 << 10} {
		msg := benchMessage(size)
		name := map[int]string{1 << 10: "1KiB", 100 << 10: "100KiB"}[size]
		b.Run("ownmx/"+name, func(b *testing.B) { runLoad(b, startDiscard(b), msg, 0) })
		b.Run("go-smtp/"+name, func(b *testing.B) { runLoad(b, startGoSMTP(b), msg, 0) })
	}
}

// BenchmarkConnection is BenchmarkDelivery with one 1 KiB message per
// connection, as most senders do: it weighs what each connection costs
// (accept, greeting, buffers, QUIT, close) against bare go-smtp.
func BenchmarkConnection(b *testing.B) {
	msg := benchMessage(1 << 10)
	b.Run("ownmx/1KiB", func(b *testing.B) { runLoad(b, startDiscard(b), msg, 1) })
	b.Run("go-smtp/1KiB", func(b *testing.B) { runLoad(b, startGoSMTP(b), msg, 1) })
}

// BenchmarkPipelined sends each transaction as a pipelined group (RFC
// 2920): MAIL and five RCPT and DATA in one write, then the message, over
// 10 connections at once, against an smtpd.Server and a bare go-smtp
// server that discard it, in one run. Besides msgs/s it reports the
// server's writes per transaction: ownmx answers the group in one write.
func BenchmarkPipelined(b *testing.B) {
	msg := benchMessage(1 << 10)
	b.Run("ownmx/1KiB", func(b *testing.B) {
		l, writes := countingListen(b)
		srv := discardServer()
		go srv.Serve(l)
		b.Cleanup(func() { srv.Close() })
		runPipelined(b, l.Addr().String(), msg, writes)
	})
	b.Run("go-smtp/1KiB", func(b *testing.B) {
		l, writes := countingListen(b)
		gs := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return discardSession{}, nil }))
		gs.Domain = "mx.example.com"
		go gs.Serve(l)
		b.Cleanup(func() { gs.Close() })
		runPipelined(b, l.Addr().String(), msg, writes)
	})
}

// runPipelined sends b.N pipelined transactions over 10 connections.
func runPipelined(b *testing.B, addr, msg string, writes *atomic.Int64) {
	group := "MAIL FROM:<alice@example.org>\r\n"
	for i := range 5 {
		group += fmt.Sprintf("RCPT TO:<bob%d@example.com>\r\n", i)
	}
	group += "DATA\r\n"
	text := msg + ".\r\n"
	var start int64
	runSessions(b, len(msg), func() { start = writes.Load() }, func(n int) error {
		return pipelineOn(addr, group, text, n)
	})
	b.ReportMetric(float64(writes.Load()-start)/float64(b.N), "writes/txn")
}

// runSessions shares b.N messages of size bytes among 10 sessions run at
// once, each send(n) sending n of them, and reports msgs/s. started runs
// once the timer has started.
func runSessions(b *testing.B, size int, started func(), send func(n int) error) {
	const sessions = 10
	b.SetBytes(int64(size))
	b.ResetTimer()
	started()
	var wg sync.WaitGroup
	for i := range sessions {
		n := b.N / sessions
		if i < b.N%sessions {
			n++
		}
		wg.Go(func() {
			if err := send(n); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// pipelineOn sends n pipelined transactions on one connection: the group,
// its 7 replies, the message, its reply.
func pipelineOn(addr, group, text string, n int) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	br := bufio.NewReader(conn)
	expect := func(k int, code string) error {
		for k > 0 {
			line, err := br.ReadString('\n')
			if err != nil {
				return err
			}
			if len(line) > 3 && line[3] == ' ' {
				if line[:3] != code && !(code == "2xx" && line[0] == '2') {
					return fmt.Errorf("got %q, want %s", line, code)
				}
				k--
			}
		}
		return nil
	}
	if err := expect(1, "220"); err != nil {
		return err
	}
	if _, err := io.WriteString(conn, "EHLO client.example.org\r\n"); err != nil {
		return err
	}
	if err := expect(1, "250"); err != nil {
		return err
	}
	for range n {
		if _, err := io.WriteString(conn, group); err != nil {
			return err
		}
		if err := expect(6, "250"); err != nil {
			return err
		}
		if err := expect(1, "354"); err != nil {
			return err
		}
		if _, err := io.WriteString(conn, text); err != nil {
			return err
		}
		if err := expect(1, "250"); err != nil {
			return err
		}
	}
	_, err = io.WriteString(conn, "QUIT\r\n")
	return err
}

// countingListen listens on loopback and counts the writes made on the
// connections it accepts.
func countingListen(b *testing.B) (net.Listener, *atomic.Int64) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	writes := new(atomic.Int64)
	return countingListener{l, writes}, writes
}

type countingListener struct {
	net.Listener
	writes *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c.(*net.TCPConn), l.writes}, nil
}

type countingConn struct {
	*net.TCPConn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.TCPConn.Write(p)
}

// startDiscard starts an smtpd.Server whose Data handler discards the
// message and returns its address. It logs as a server in production
// would with its level at warn, as examples/hello -log-level warn does:
// through a text handler whose records below warn are dropped.
func startDiscard(b *testing.B) string {
	return smtptest.Start(b, discardServer())
}

// discardServer is the server of startDiscard, and of tests that need
// one that takes every message to example.com.
func discardServer() *smtpd.Server {
	return &smtpd.Server{
		Hostname: "mx.example.com",
		Logger:   slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Rcpt:     smtpd.AcceptDomains("example.com"),
		Data: smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
			_, err := io.Copy(io.Discard, r)
			return err
		}),
	}
}

// startGoSMTP starts a bare go-smtp server that discards messages and
// returns its address.
func startGoSMTP(b *testing.B) string {
	gs := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return discardSession{}, nil }))
	gs.Domain = "mx.example.com"
	gs.MaxMessageBytes = smtpd.DefaultMaxMessageBytes
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go gs.Serve(l)
	b.Cleanup(func() { gs.Close() })
	return l.Addr().String()
}

// runLoad sends b.N messages over 10 connections at once: all of a
// session's messages on one connection when perConn is 0, else perConn
// messages on each connection before the next.
func runLoad(b *testing.B, addr, msg string, perConn int) {
	runSessions(b, len(msg), func() {}, func(n int) error {
		per := perConn
		if per <= 0 {
			per = max(n, 1)
		}
		for sent := 0; sent < n; sent += per {
			if err := sendOn(addr, msg, min(per, n-sent)); err != nil {
				return err
			}
		}
		return nil
	})
}

// sendOn opens a connection to addr, sends msg n times on it and quits.
func sendOn(addr, msg string, n int) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
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

// benchMessage returns a message of about size bytes in 76-column lines.
func benchMessage(size int) string {
	var sb strings.Builder
	sb.WriteString("From: alice@example.org\r\nTo: bob@example.com\r\nSubject: benchmark\r\n\r\n")
	line := strings.Repeat("0123456789abcdef", 5)[:74] + "\r\n"
	for sb.Len()+len(line) <= size {
		sb.WriteString(line)
	}
	return sb.String()
}

type discardSession struct{}

func (discardSession) Reset()                               {}
func (discardSession) Logout() error                        { return nil }
func (discardSession) Mail(string, *smtp.MailOptions) error { return nil }
func (discardSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (discardSession) Data(r io.Reader) error               { _, err := io.Copy(io.Discard, r); return err }
