package smtpd_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"go.uber.org/goleak"

	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestRcptRequired: a Server without a Rcpt handler would relay for
// anyone, so it does not start (item 10); nor does one without Data.
func TestRcptRequired(t *testing.T) {
	data := smtpd.DataFunc(func(context.Context, *smtpd.Envelope, io.Reader) error { return nil })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	err = (&smtpd.Server{Data: data}).Serve(l)
	if err == nil || !strings.Contains(err.Error(), "Rcpt") {
		t.Errorf("Serve without Rcpt = %v, want an error naming Rcpt", err)
	}
	err = (&smtpd.Server{Rcpt: smtpd.AcceptDomains("example.com")}).Serve(l)
	if err == nil || !strings.Contains(err.Error(), "Data") {
		t.Errorf("Serve without Data = %v, want an error naming Data", err)
	}
}

// TestHappyPathGoSMTPClient sends with go-smtp's client: several
// recipients, dot-stuffed lines, the exact bytes kept.
func TestHappyPathGoSMTPClient(t *testing.T) {
	ts := newTestServer(t, nil)
	body := "Subject: test\r\nFrom: alice@example.org\r\n\r\n.leading dot\r\n..two dots\r\nend\r\n"
	if err := smtptest.Send(ts.addr, "alice@example.org", []string{"bob@example.com", "carol@example.com", "bob@example.com"}, body); err != nil {
		t.Fatal(err)
	}
	msgs := ts.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages stored, want 1", len(msgs))
	}
	received, rest, ok := strings.Cut(msgs[0], "\r\nSubject:")
	if !ok || "Subject:"+rest != body {
		t.Errorf("stored %q, want the Received header then %q", msgs[0], body)
	}
	if strings.Contains(received, "for <") {
		t.Errorf("Received names a recipient of a message to several: %q", received)
	}
}

// TestConcurrentSessions: many clients at once, several messages each.
func TestConcurrentSessions(t *testing.T) {
	ts := newTestServer(t, nil)
	const clients, perClient = 20, 5
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := smtp.Dial(ts.addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for j := range perClient {
				msg := fmt.Sprintf("Subject: %d-%d\r\n\r\nhello\r\n", i, j)
				if err := c.SendMail("alice@example.org", []string{"bob@example.com"}, strings.NewReader(msg)); err != nil {
					errs <- err
					return
				}
			}
			errs <- c.Quit()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := len(ts.messages()); n != clients*perClient {
		t.Errorf("%d messages stored, want %d", n, clients*perClient)
	}
}

// trickle sends s one byte at a time, one every interval, until it is all
// sent or the server stops taking it; it returns how many bytes went out.
// The pacing is the client's behaviour under test, not synchronisation.
func trickle(conn net.Conn, s string, interval time.Duration, stop <-chan struct{}) int {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := range len(s) {
		select {
		case <-stop:
			return i
		case <-tick.C:
		}
		if _, err := conn.Write([]byte{s[i]}); err != nil {
			return i
		}
	}
	return len(s)
}

// TestTrickleIsCutOff (item 3): a client that sends a byte every 50 ms
// renews no deadline: with a 300 ms read timeout its line, which would take
// 10 s, is cut off with 421 long before it is complete, in a command and
// in DATA.
func TestTrickleIsCutOff(t *testing.T) {
	long := strings.Repeat("x", 200)
	for _, tc := range []struct {
		name  string
		setup []string
		line  string
	}{
		{"command", []string{"EHLO client.example.org"}, "MAIL FROM:<" + long + "@example.org>\r\n"},
		{"data", []string{"EHLO client.example.org", "MAIL FROM:<alice@example.org>", "RCPT TO:<bob@example.com>", "DATA"}, "Subject: " + long + "\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, map[string]string{"read-timeout": "300ms"})
			c := smtptest.Dial(t, ts.addr)
			c.ReadReply()
			for _, l := range tc.setup {
				if r := c.Cmd(l); r.Code >= 400 {
					t.Fatalf("%s: %s", l, r)
				}
			}
			stop := make(chan struct{})
			sent := make(chan int, 1)
			go func() { sent <- trickle(c.Conn(), tc.line, 50*time.Millisecond, stop) }()
			r, err := c.ReadReply()
			close(stop)
			n := <-sent
			if err != nil || r.Code != 421 || !strings.HasPrefix(r.Last(), "421 4.4.2") {
				t.Fatalf("reply %q (%v), want 421 4.4.2", r.Last(), err)
			}
			if n >= len(tc.line) {
				t.Errorf("the whole line (%d bytes) went out before the cut-off", n)
			}
			if !c.Closed() {
				t.Error("connection still open after 421")
			}
		})
	}
}

// TestDataTimeoutCapsTransfer (item 3): lines that each arrive in time do
// not let a message take longer than DataTimeout.
func TestDataTimeoutCapsTransfer(t *testing.T) {
	ts := newTestServer(t, map[string]string{"read-timeout": "5s", "data-timeout": "400ms"})
	c := smtptest.Dial(t, ts.addr)
	c.ReadReply()
	for _, l := range []string{"EHLO client.example.org", "MAIL FROM:<alice@example.org>", "RCPT TO:<bob@example.com>", "DATA"} {
		c.Cmd(l)
	}
	stop := make(chan struct{})
	done := make(chan int, 1)
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := range 200 { // 10 s of lines if never cut off
			select {
			case <-stop:
				done <- i
				return
			case <-tick.C:
			}
			if c.WriteRaw("a line in time\r\n") != nil {
				done <- i
				return
			}
		}
		done <- 200
	}()
	r, err := c.ReadReply()
	close(stop)
	if n := <-done; n >= 200 {
		t.Errorf("all %d lines went out before the cut-off", n)
	}
	if err != nil || !strings.HasPrefix(r.Last(), "421 4.4.2") || !strings.Contains(r.Last(), "too long") {
		t.Fatalf("reply %q (%v), want 421 4.4.2 ... too long", r.Last(), err)
	}
	if len(ts.messages()) != 0 {
		t.Error("a message cut off was stored")
	}
}

// TestSessionTimeout (item 3): NOOPs in time do not keep a session open
// beyond SessionTimeout.
func TestSessionTimeout(t *testing.T) {
	ts := newTestServer(t, map[string]string{"session-timeout": "400ms", "max-junk": "-1"})
	c := smtptest.Dial(t, ts.addr)
	c.ReadReply()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for i := range 200 { // 10 s if never cut off
		<-tick.C
		if err := c.WriteRaw("NOOP\r\n"); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		r, err := c.ReadReply()
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if r.Code == 421 {
			if !strings.Contains(r.Last(), "Session too long") {
				t.Errorf("reply %q, want the session cap", r.Last())
			}
			return
		}
	}
	t.Fatal("session never cut off")
}

// TestShutdownFinishesTransactions: Shutdown closes idle sessions with 421
// at once, lets a message in flight finish with 250, then closes that
// session too, and Serve returns ErrServerClosed.
func TestShutdownFinishesTransactions(t *testing.T) {
	srv := newUnstartedServer(t, nil).srv
	addr, served := serve(t, srv)

	idle := smtptest.Dial(t, addr)
	idle.ReadReply()
	idle.Cmd("EHLO client.example.org")

	busy := smtptest.Dial(t, addr)
	busy.ReadReply()
	for _, l := range []string{"EHLO client.example.org", "MAIL FROM:<alice@example.org>", "RCPT TO:<bob@example.com>", "DATA"} {
		if r := busy.Cmd(l); r.Code >= 400 {
			t.Fatalf("%s: %s", l, r)
		}
	}
	busy.WriteRaw("Subject: in flight\r\n\r\n")

	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()

	if r, err := idle.ReadReply(); err != nil || !strings.HasPrefix(r.Last(), "421 4.3.2") {
		t.Fatalf("idle session got %q (%v), want 421 4.3.2", r.Last(), err)
	}
	if !idle.Closed() {
		t.Error("idle session still open")
	}
	busy.WriteRaw("the rest of the message\r\n.\r\n")
	if r, err := busy.ReadReply(); err != nil || r.Code != 250 {
		t.Fatalf("message in flight got %q (%v), want 250", r.Last(), err)
	}
	if err := busy.WriteRaw("MAIL FROM:<alice@example.org>\r\n"); err == nil {
		if r, err := busy.ReadReply(); err != nil || !strings.HasPrefix(r.Last(), "421 4.3.2") {
			t.Fatalf("command after the transaction got %q (%v), want 421 4.3.2", r.Last(), err)
		}
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	if err := <-served; !errors.Is(err, smtpd.ErrServerClosed) {
		t.Errorf("Serve = %v, want ErrServerClosed", err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("still accepting after Shutdown")
	}
}

// TestShutdownDeadline: a session that stalls inside a transaction keeps
// Shutdown waiting until its context ends; Close then cuts it.
func TestShutdownDeadline(t *testing.T) {
	srv := newUnstartedServer(t, nil).srv
	addr, served := serve(t, srv)
	c := smtptest.Dial(t, addr)
	c.ReadReply()
	c.Cmd("EHLO client.example.org")
	c.Cmd("MAIL FROM:<alice@example.org>")

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want the context's deadline", err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if !c.Closed() {
		t.Error("session still open after Close")
	}
	if err := <-served; !errors.Is(err, smtpd.ErrServerClosed) {
		t.Errorf("Serve = %v, want ErrServerClosed", err)
	}
}

// TestPanicKeepsServing (item 12) from many clients at once: every
// panicking session gets 421 and the others are served.
func TestPanicKeepsServing(t *testing.T) {
	ts := newTestServer(t, nil)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			to := "bob@example.com"
			if i%2 == 0 {
				to = "panic@example.com"
			}
			err := smtptest.Send(ts.addr, "alice@example.org", []string{to}, "Subject: x\r\n\r\nx\r\n")
			var se *smtp.SMTPError
			switch {
			case i%2 == 0 && (!errors.As(err, &se) || se.Code != 421):
				t.Errorf("panicking session: %v, want 421", err)
			case i%2 == 1 && err != nil:
				t.Errorf("normal session: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := len(ts.messages()); n != 5 {
		t.Errorf("%d messages stored, want 5", n)
	}
}

// serve runs srv on a loopback port, for tests that stop it themselves;
// Serve's result arrives on served.
func serve(t *testing.T, srv *smtpd.Server) (addr string, served <-chan error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan error, 1)
	go func() { ch <- srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String(), ch
}
