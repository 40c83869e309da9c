package smtpd_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// TestObserverCloseReasons: each way a session can end is reported to
// ConnClosed as its own reason, one case per CloseReason, each over a real
// SMTP session on loopback.
func TestObserverCloseReasons(t *testing.T) {
	cases := []struct {
		reason smtpd.CloseReason
		setup  func(srv *smtpd.Server)
		// session talks to the server; stop shuts it down.
		session func(t *testing.T, c *smtptest.Client, stop func())
	}{
		{smtpd.CloseQuit, nil, func(t *testing.T, c *smtptest.Client, _ func()) {
			c.Cmd("EHLO client.example.org")
			expect(t, c.Cmd("QUIT"), 221)
		}},
		{smtpd.CloseDisconnect, nil, func(t *testing.T, c *smtptest.Client, _ func()) {
			expect(t, c.Cmd("EHLO client.example.org"), 250)
			c.Conn().Close()
		}},
		{smtpd.CloseNetwork, nil, func(t *testing.T, c *smtptest.Client, _ func()) {
			expect(t, c.Cmd("EHLO client.example.org"), 250)
			// SO_LINGER 0: the close sends a reset.
			c.Conn().(*net.TCPConn).SetLinger(0)
			c.Conn().Close()
		}},
		{smtpd.CloseTimeout, func(srv *smtpd.Server) { srv.ReadTimeout = 100 * time.Millisecond }, func(t *testing.T, c *smtptest.Client, _ func()) {
			expect(t, c.Cmd("EHLO client.example.org"), 250)
			r, err := c.ReadReply() // the 421 once the line did not come
			if err != nil || r.Code != 421 {
				t.Errorf("idle client got %v (%v), want 421", r, err)
			}
		}},
		{smtpd.CloseLimit, func(srv *smtpd.Server) { srv.MaxErrors = 1 }, func(t *testing.T, c *smtptest.Client, _ func()) {
			expect(t, c.Cmd("FOO"), 500)
			expect(t, c.Cmd("FOO"), 500)
			if r, err := c.ReadReply(); err != nil || r.Code != 421 {
				t.Errorf("after too many errors: %v (%v), want 421", r, err)
			}
		}},
		{smtpd.CloseRefused, func(srv *smtpd.Server) {
			srv.Rcpt = smtpd.RcptFunc(func(context.Context, *smtpd.Envelope, string) error {
				return smtpd.Errorf(421, smtpd.EnhancedCode{4, 7, 0}, "go away")
			})
		}, func(t *testing.T, c *smtptest.Client, _ func()) {
			c.Cmd("EHLO client.example.org")
			c.Cmd("MAIL FROM:<a@example.org>")
			expect(t, c.Cmd("RCPT TO:<b@example.com>"), 421)
		}},
		{smtpd.CloseProtocol, nil, func(t *testing.T, c *smtptest.Client, _ func()) {
			expect(t, c.Cmd("GET / HTTP/1.1"), 421)
		}},
		{smtpd.CloseShutdown, nil, func(t *testing.T, c *smtptest.Client, stop func()) {
			expect(t, c.Cmd("EHLO client.example.org"), 250)
			stop()
			if r, err := c.ReadReply(); err != nil || r.Code != 421 {
				t.Errorf("idle session at Shutdown: %v (%v), want 421", r, err)
			}
		}},
		{smtpd.CloseError, func(srv *smtpd.Server) {
			srv.Mail = smtpd.MailFunc(func(context.Context, *smtpd.Envelope) error { panic("handler bug") })
		}, func(t *testing.T, c *smtptest.Client, _ func()) {
			c.Cmd("EHLO client.example.org")
			expect(t, c.Cmd("MAIL FROM:<a@example.org>"), 421)
		}},
	}
	var covered []smtpd.CloseReason
	for _, tc := range cases {
		covered = append(covered, tc.reason)
		t.Run(string(tc.reason), func(t *testing.T) {
			o, obs := newObserved()
			srv := discardServer()
			srv.Observer = obs
			if tc.setup != nil {
				tc.setup(srv)
			}
			addr, served := serve(t, srv)
			shutdown := make(chan error, 1)
			stop := func() { go func() { shutdown <- srv.Shutdown(context.Background()) }() }
			c := smtptest.Dial(t, addr)
			expect(t, readReply(t, c), 220)
			tc.session(t, c, stop)
			select {
			case <-o.closed:
			case <-time.After(10 * time.Second):
				t.Fatal("no connection reported closed after 10s")
			}
			o.mu.Lock()
			defer o.mu.Unlock()
			if len(o.reasons) != 1 || o.reasons[tc.reason] != 1 {
				t.Errorf("reasons = %v, want one %q", o.reasons, tc.reason)
			}
			if tc.reason == smtpd.CloseShutdown {
				if err := <-shutdown; err != nil {
					t.Errorf("Shutdown = %v", err)
				}
				if err := <-served; !errors.Is(err, smtpd.ErrServerClosed) {
					t.Errorf("Serve = %v", err)
				}
			}
		})
	}
	all := []smtpd.CloseReason{smtpd.CloseQuit, smtpd.CloseDisconnect, smtpd.CloseNetwork, smtpd.CloseTimeout,
		smtpd.CloseLimit, smtpd.CloseRefused, smtpd.CloseProtocol, smtpd.CloseShutdown, smtpd.CloseError}
	for _, r := range all {
		if !slices.Contains(covered, r) {
			t.Errorf("no case for %q", r)
		}
	}
}

func expect(t *testing.T, r smtptest.Reply, code int) {
	t.Helper()
	if r.Code != code {
		t.Errorf("got %v, want %d", r, code)
	}
}

func readReply(t *testing.T, c *smtptest.Client) smtptest.Reply {
	t.Helper()
	r, err := c.ReadReply()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestObserverMessageAccepted: each message accepted is reported once
// with its size as sent (dot-stuffing undone, no Received field) and its
// recipients; refused messages are not; each handler call is reported
// with its stage.
func TestObserverMessageAccepted(t *testing.T) {
	o, obs := newObserved()
	srv := &smtpd.Server{
		Hostname: "mx.example.com",
		Logger:   slog.New(slog.DiscardHandler),
		Connect:  smtpd.ConnectFunc(func(context.Context, *smtpd.Conn) error { return nil }),
		Mail:     smtpd.MailFunc(func(context.Context, *smtpd.Envelope) error { return nil }),
		Rcpt:     smtpd.AcceptDomains("example.com"),
		Data: smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
			b, err := io.ReadAll(r)
			if strings.Contains(string(b), "refuse me") {
				return smtpd.Errorf(550, smtpd.EnhancedCode{5, 7, 1}, "refused")
			}
			return err
		}),
		Observer: obs,
	}
	addr := smtptest.Start(t, srv)
	one := "Subject: 1\r\n\r\nhi\r\n"                // 18 octets
	stuffed := "Subject: 2\r\n\r\n.dot\r\n..two\r\n" // 27 octets; sent stuffed
	for _, m := range []struct {
		to  []string
		msg string
	}{
		{[]string{"a@example.com"}, one},
		{[]string{"a@example.com", "b@example.com", "c@example.com"}, stuffed},
		{[]string{"a@example.com"}, "Subject: 3\r\n\r\nrefuse me\r\n"},
	} {
		err := smtptest.Send(addr, "s@sender.example", m.to, m.msg)
		if refused := strings.Contains(m.msg, "refuse me"); refused != (err != nil) {
			t.Fatalf("send %q: %v", m.msg, err)
		}
	}
	for i := range 3 {
		select {
		case <-o.closed:
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d connections reported closed after 10s", i)
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if want := []int64{int64(len(one)), int64(len(stuffed))}; !slices.Equal(o.sizes, want) {
		t.Errorf("sizes = %v, want %v", o.sizes, want)
	}
	if want := []int{1, 3}; !slices.Equal(o.rcpts, want) {
		t.Errorf("recipients = %v, want %v", o.rcpts, want)
	}
	if want := map[string]int{"CONNECT": 3, "MAIL": 3, "RCPT": 5, "DATA": 3}; fmt.Sprint(o.stages) != fmt.Sprint(want) {
		t.Errorf("handler calls by stage = %v, want %v", o.stages, want)
	}
}
