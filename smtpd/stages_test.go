package smtpd_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

type scoreKey struct{}

// TestConnValues: a value a Connect handler sets on the connection is seen
// by the handlers of every transaction on it, and by no other connection.
func TestConnValues(t *testing.T) {
	var n atomic.Int32
	var mu sync.Mutex
	var seen []string
	srv := &smtpd.Server{
		Hostname: "mx.example.com",
		Connect: smtpd.ConnectFunc(func(ctx context.Context, c *smtpd.Conn) error {
			c.SetValue(scoreKey{}, "score-"+string(rune('0'+n.Add(1))))
			return nil
		}),
		Mail: smtpd.MailFunc(func(ctx context.Context, env *smtpd.Envelope) error {
			if env.Conn.Value(scoreKey{}) == nil {
				return errors.New("no score at MAIL")
			}
			return nil
		}),
		Rcpt: smtpd.AcceptDomains("example.com"),
		Data: smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
			mu.Lock()
			seen = append(seen, env.Conn.Value(scoreKey{}).(string))
			mu.Unlock()
			_, err := io.Copy(io.Discard, r)
			return err
		}),
	}
	addr := smtptest.Start(t, srv)
	c := smtptest.Dial(t, addr)
	c.ReadReply()
	c.Cmd("EHLO client.example.org")
	for range 2 {
		for _, l := range []string{"MAIL FROM:<a@example.org>", "RCPT TO:<b@example.com>", "DATA"} {
			if r := c.Cmd(l); r.Code >= 400 {
				t.Fatalf("%s: %s", l, r)
			}
		}
		if r := c.Cmd("Subject: x\r\n\r\nx\r\n."); r.Code != 250 {
			t.Fatalf("message: %s", r)
		}
	}
	if err := smtptest.Send(addr, "a@example.org", []string{"b@example.com"}, "Subject: y\r\n\r\ny\r\n"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"score-1", "score-1", "score-2"}; !slices.Equal(seen, want) {
		t.Fatalf("Data handlers saw %q, want %q", seen, want)
	}
}

// TestConnState: every connection is reported new, then closed, once,
// whatever ends it: QUIT, a cap, the client leaving, a 421, Close.
func TestConnState(t *testing.T) {
	type event struct {
		id    string
		state smtpd.ConnState
	}
	events := make(chan event, 100)
	srv := newUnstartedServer(t, map[string]string{"max-connections-per-ip": "2", "max-errors": "1"}).srv
	srv.ConnState = func(c *smtpd.Conn, st smtpd.ConnState) { events <- event{c.ID, st} }
	addr, served := serve(t, srv)

	quit := smtptest.Dial(t, addr)
	quit.ReadReply()
	quit.Cmd("QUIT")
	errs := smtptest.Dial(t, addr)
	errs.ReadReply()
	errs.Cmd("FOO")
	errs.Cmd("FOO") // 500, then 421: too many errors
	gone := smtptest.Dial(t, addr)
	gone.ReadReply()
	gone.Conn().Close()
	idle1 := smtptest.Dial(t, addr)
	idle1.ReadReply()
	idle2 := smtptest.Dial(t, addr)
	idle2.ReadReply()
	capped := smtptest.Dial(t, addr) // over the cap of 2: 421
	if r, _ := capped.ReadReply(); r.Code != 421 {
		t.Fatalf("third connection at once got %s, want 421", r.Last())
	}

	states := map[string][]smtpd.ConnState{}
	closed := 0
	wait := func(want int) {
		t.Helper()
		for closed < want {
			select {
			case e := <-events:
				states[e.id] = append(states[e.id], e.state)
				if e.state == smtpd.StateClosed {
					closed++
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%d connections reported closed, want %d: %v", closed, want, states)
			}
		}
	}
	wait(4) // quit, errs, gone, capped
	srv.Close()
	<-served
	wait(6) // the two idle ones, closed by Close
	if len(states) != 6 {
		t.Fatalf("%d connections reported, want 6: %v", len(states), states)
	}
	for id, s := range states {
		if !slices.Equal(s, []smtpd.ConnState{smtpd.StateNew, smtpd.StateClosed}) {
			t.Errorf("connection %s reported %v, want [new closed]", id, s)
		}
	}
}

// TestChainStages: the same middleware shape for Connect, Mail and Rcpt: a
// cheap check refuses before the costly handler runs.
func TestChainStages(t *testing.T) {
	var costly atomic.Int32
	refuseDomain := func(domain string) smtpd.MailMiddleware {
		return func(next smtpd.MailHandler) smtpd.MailHandler {
			return smtpd.MailFunc(func(ctx context.Context, env *smtpd.Envelope) error {
				if strings.HasSuffix(env.From, "@"+domain) {
					return smtpd.Errorf(550, smtpd.EnhancedCode{5, 7, 1}, "Sender domain refused")
				}
				return next.Mail(ctx, env)
			})
		}
	}
	spf := func(next smtpd.MailHandler) smtpd.MailHandler { // stands for the costly SPF check
		return smtpd.MailFunc(func(ctx context.Context, env *smtpd.Envelope) error {
			costly.Add(1)
			return next.Mail(ctx, env)
		})
	}
	var order []string
	note := func(name string) smtpd.RcptMiddleware {
		return func(next smtpd.RcptHandler) smtpd.RcptHandler {
			return smtpd.RcptFunc(func(ctx context.Context, env *smtpd.Envelope, to string) error {
				order = append(order, name)
				return next.Rcpt(ctx, env, to)
			})
		}
	}
	srv := &smtpd.Server{
		Hostname: "mx.example.com",
		Connect: smtpd.ChainConnect(nil, func(next smtpd.ConnectHandler) smtpd.ConnectHandler {
			return smtpd.ConnectFunc(func(ctx context.Context, c *smtpd.Conn) error {
				c.SetValue(scoreKey{}, "checked")
				return next.Connect(ctx, c)
			})
		}),
		Mail: smtpd.ChainMail(nil, refuseDomain("spam.example"), spf),
		Rcpt: smtpd.ChainRcpt(smtpd.AcceptDomains("example.com"), note("outer"), note("inner")),
		Data: smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
			if env.Conn.Value(scoreKey{}) != "checked" {
				return errors.New("the Connect chain did not run")
			}
			_, err := io.Copy(io.Discard, r)
			return err
		}),
	}
	addr := smtptest.Start(t, srv)
	var se *smtpd.Error
	if err := smtptest.Send(addr, "x@spam.example", []string{"b@example.com"}, "Subject: x\r\n\r\nx\r\n"); !errors.As(err, &se) || se.Code != 550 {
		t.Fatalf("sender at the refused domain: %v, want 550", err)
	}
	if costly.Load() != 0 {
		t.Fatal("the costly check ran for a sender the cheap one refused")
	}
	if err := smtptest.Send(addr, "a@example.org", []string{"b@example.com"}, "Subject: x\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	if costly.Load() != 1 || !slices.Equal(order, []string{"outer", "inner"}) {
		t.Fatalf("costly check ran %d times, Rcpt middleware in order %v", costly.Load(), order)
	}
	if err := smtpd.ChainRcpt(nil).Rcpt(t.Context(), nil, "b@example.com"); !errors.Is(err, smtpd.ErrRelayDenied) {
		t.Fatalf("ChainRcpt(nil) = %v, want ErrRelayDenied", err)
	}
}
