package route

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ownmx/ownmx/queue"
	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// TestDataFanOut sends one message to three recipients that match two
// patterns, one of them with two actions: the Committer gets ONE message
// with three deliveries, each with its pattern's recipients, and an
// Envelope that says who sent it to whom from where, in plain text and
// after STARTTLS.
func TestDataFanOut(t *testing.T) {
	serverTLS, clientTLS := smtptest.TLSConfigs(t, "mx.example.com")
	for _, tc := range []struct {
		name string
		opts []smtptest.Option
		tls  bool
	}{
		{"plain", nil, false},
		{"STARTTLS", []smtptest.Option{smtptest.StartTLS(clientTLS)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mux := &Mux{Now: func() time.Time { return testNow }}
			mux.Handle("*@example.com", nop)
			mux.Handle("Sales+*@Example.com", nop, nop)
			mux.Handle("unused@example.com", nop)
			rec := &recorder{}
			srv := &smtpd.Server{
				Hostname:  "mx.example.com",
				TLSConfig: serverTLS,
				Rcpt:      smtpd.AcceptDomains("example.com").Then(mux),
				Data:      mux.Handler(rec),
			}
			addr := smtptest.Start(t, srv)
			rcpt := []string{"sales+1@example.com", "bob@example.com", "SALES+2@example.com"}
			wantReply(t, smtptest.Send(addr, "alice@example.net", rcpt, testMessage, tc.opts...), 250, "")

			commits := rec.got()
			if len(commits) != 1 {
				t.Fatalf("%d commits, want 1", len(commits))
			}
			c := commits[0]
			wantDeliveries := []queue.Delivery{
				{Action: "sales+*@example.com#1", Rcpt: []string{"sales+1@example.com", "SALES+2@example.com"}},
				{Action: "sales+*@example.com#2", Rcpt: []string{"sales+1@example.com", "SALES+2@example.com"}},
				{Action: "*@example.com#1", Rcpt: []string{"bob@example.com"}},
			}
			if !reflect.DeepEqual(c.deliveries, wantDeliveries) {
				t.Errorf("deliveries %+v, want %+v", c.deliveries, wantDeliveries)
			}
			wantBody(t, c.body)
			env := *c.env
			if env.ID == "" || !strings.Contains(c.body, env.ID) {
				t.Errorf("envelope ID %q is not the transaction's, named in the Received header", env.ID)
			}
			if env.TLS == nil != !tc.tls {
				t.Fatalf("TLS %+v, want it only after STARTTLS", env.TLS)
			}
			if tc.tls && (env.TLS.Version != "TLS 1.3" || !strings.HasPrefix(env.TLS.Cipher, "TLS_")) {
				t.Errorf("TLS %+v, want TLS 1.3 and a cipher suite's name", env.TLS)
			}
			env.ID, env.TLS = "", nil
			want := queue.Envelope{
				Received: testNow,
				From:     "alice@example.net",
				Rcpt:     rcpt,
				ClientIP: "127.0.0.1",
				Helo:     "client.test",
			}
			if !reflect.DeepEqual(env, want) {
				t.Errorf("envelope %+v, want %+v", env, want)
			}
		})
	}
}

// TestDataEnvelopeFlags checks that SMTPUTF8 and the Quarantine a filter
// set reach the queued Envelope, with the recipients as the client wrote
// them and the action named by the pattern's A-label form.
func TestDataEnvelopeFlags(t *testing.T) {
	mux := &Mux{Now: func() time.Time { return testNow }}
	mux.Handle("*@bücher.example", nop)
	rec := &recorder{}
	quarantine := func(next smtpd.DataHandler) smtpd.DataHandler {
		return smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
			env.Quarantine = true
			return next.Data(ctx, env, r)
		})
	}
	c := smtptest.Dial(t, start(t, mux, rec, quarantine))
	dialog(t, c, []step{
		{"", 220},
		{"EHLO client.test", 250},
		{"MAIL FROM:<älice@example.net> SMTPUTF8", 250},
		{"RCPT TO:<jörg@Bücher.example>", 250},
		{"DATA", 354},
		{testMessage + ".", 250},
	})
	commits := rec.got()
	if len(commits) != 1 {
		t.Fatalf("%d commits, want 1", len(commits))
	}
	env, d := commits[0].env, commits[0].deliveries
	if !env.SMTPUTF8 || !env.Quarantine || env.From != "älice@example.net" || !reflect.DeepEqual(env.Rcpt, []string{"jörg@Bücher.example"}) {
		t.Errorf("envelope %+v, want SMTPUTF8, Quarantine and the addresses as sent", env)
	}
	want := []queue.Delivery{{Action: "*@xn--bcher-kva.example#1", Rcpt: []string{"jörg@Bücher.example"}}}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("deliveries %+v, want %+v", d, want)
	}
}

// spool is a middleware that spools the message and hands next a reader
// that smtpd.Reread can read again, as auth.Checker's does.
func spool(next smtpd.DataHandler) smtpd.DataHandler {
	return smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
		sp := &smtpd.Spool{}
		defer sp.Close()
		if _, err := sp.ReadFrom(r); err != nil {
			return err
		}
		return next.Data(ctx, env, sp.Reader())
	})
}

// TestDataDecider has a Decider decide the reply to DATA: accepted, the
// message is committed without it (and with the route's other action);
// refused, the client hears its 550 5.7.1 and nothing is committed;
// deferred, its 450; failed, 451 4.3.0. The Decider sees the whole
// message and its route's recipients, whether a middleware spooled the
// message (smtpd.Reread) or not (the Mux spools it).
func TestDataDecider(t *testing.T) {
	for _, mw := range []struct {
		name       string
		middleware []smtpd.Middleware
	}{{"DATA reader", nil}, {"spooled", []smtpd.Middleware{spool}}} {
		for _, tc := range []struct {
			name     string
			err      error
			code     int
			enhanced string
		}{
			{"accepts", nil, 250, ""},
			{"refuses", smtpd.Errorf(550, smtpd.EnhancedCode{5, 7, 1}, "Refused by the receiver"), 550, "5.7.1"},
			{"refuses, wrapped", fmt.Errorf("webhook said: %w", smtpd.Errorf(554, smtpd.EnhancedCode{5, 7, 0}, "No")), 554, "5.7.0"},
			{"defers", smtpd.Errorf(450, smtpd.EnhancedCode{4, 7, 1}, "Try later"), 450, "4.7.1"},
			{"fails", errors.New("webhook: connection refused"), 451, "4.3.0"},
		} {
			t.Run(mw.name+"/"+tc.name, func(t *testing.T) {
				d := &decider{err: tc.err}
				mux := &Mux{Now: func() time.Time { return testNow }}
				mux.Handle("hook@example.com", d, nop)
				mux.Handle("*@example.com", nop)
				rec := &recorder{}
				addr := start(t, mux, rec, mw.middleware...)
				err := smtptest.Send(addr, "alice@example.net", []string{"hook@example.com", "bob@example.com", "hook+x@example.com"}, testMessage)
				wantReply(t, err, tc.code, tc.enhanced)

				calls := d.got()
				if len(calls) != 1 {
					t.Fatalf("Decide called %d times, want once", len(calls))
				}
				call := calls[0]
				wantBody(t, call.body)
				if !reflect.DeepEqual(call.rcpt, []string{"hook@example.com", "hook+x@example.com"}) || call.id == "" || call.id != call.env.ID || len(call.env.Rcpt) != 3 || call.env.Received != testNow {
					t.Errorf("Decide got ID %q, recipients %q, envelope %+v; want the transaction's ID and envelope and its route's recipients", call.id, call.rcpt, call.env)
				}
				commits := rec.got()
				if tc.code != 250 {
					if len(commits) != 0 {
						t.Errorf("%d commits of a message refused, want none", len(commits))
					}
					return
				}
				if len(commits) != 1 {
					t.Fatalf("%d commits, want 1", len(commits))
				}
				want := []queue.Delivery{
					{Action: "hook@example.com#2", Rcpt: []string{"hook@example.com", "hook+x@example.com"}},
					{Action: "*@example.com#1", Rcpt: []string{"bob@example.com"}},
				}
				if !reflect.DeepEqual(commits[0].deliveries, want) {
					t.Errorf("deliveries %+v, want %+v (the Decider not queued)", commits[0].deliveries, want)
				}
				wantBody(t, commits[0].body)
				if commits[0].env.ID != call.id {
					t.Errorf("committed envelope ID %q, Decider's %q", commits[0].env.ID, call.id)
				}
			})
		}
	}
}

// TestDataDeciders checks how several Deciders share the one reply: the
// first refusal ends the transaction before the next is asked, and a
// message that only Deciders (and Drop) wanted is accepted without a
// commit.
func TestDataDeciders(t *testing.T) {
	t.Run("first refusal ends it", func(t *testing.T) {
		refuse, accept := &decider{err: smtpd.Errorf(550, smtpd.EnhancedCode{5, 7, 1}, "No")}, &decider{}
		mux := &Mux{}
		mux.Handle("a@example.com", refuse)
		mux.Handle("b@example.com", accept)
		rec := &recorder{}
		addr := start(t, mux, rec)
		wantReply(t, smtptest.Send(addr, "alice@example.net", []string{"a@example.com", "b@example.com"}, testMessage), 550, "5.7.1")
		if len(refuse.got()) != 1 || len(accept.got()) != 0 || len(rec.got()) != 0 {
			t.Errorf("asked %d and %d times, %d commits; want 1, 0 and 0", len(refuse.got()), len(accept.got()), len(rec.got()))
		}
	})
	t.Run("all decided", func(t *testing.T) {
		d1, d2 := &decider{}, &decider{}
		mux := &Mux{}
		mux.Handle("a@example.com", d1, Drop)
		mux.Handle("b@example.com", d2)
		rec := &recorder{}
		addr := start(t, mux, rec)
		wantReply(t, smtptest.Send(addr, "alice@example.net", []string{"a@example.com", "b@example.com"}, testMessage), 250, "")
		if len(d1.got()) != 1 || len(d2.got()) != 1 || len(rec.got()) != 0 || d1.runs+d2.runs != 0 {
			t.Errorf("asked %d and %d times, %d commits, %d runs; want 1, 1, 0 and 0", len(d1.got()), len(d2.got()), len(rec.got()), d1.runs+d2.runs)
		}
	})
}

// TestDataDrop checks that a message whose every route drops it is
// answered 250 and never committed, and that Drop beside another action
// commits only that one.
func TestDataDrop(t *testing.T) {
	mux := &Mux{}
	mux.Handle("noreply@", Drop)
	mux.Handle("*@example.org", Drop, Drop)
	mux.Handle("keep@example.com", Drop, nop)
	rec := &recorder{}
	addr := start(t, mux, rec)
	wantReply(t, smtptest.Send(addr, "alice@example.net", []string{"noreply@example.com", "x@example.org"}, testMessage), 250, "")
	if n := len(rec.got()); n != 0 {
		t.Fatalf("%d commits of a dropped message, want none", n)
	}
	wantReply(t, smtptest.Send(addr, "alice@example.net", []string{"noreply@example.com", "keep@example.com"}, testMessage), 250, "")
	commits := rec.got()
	want := []queue.Delivery{{Action: "keep@example.com#2", Rcpt: []string{"keep@example.com"}}}
	if len(commits) != 1 || !reflect.DeepEqual(commits[0].deliveries, want) {
		t.Fatalf("commits %+v, want one with %+v", commits, want)
	}
}

// TestDataCommitError checks that a Committer's failure defers the message
// (451 4.3.0, its text kept from the client), and that a reply it wraps is
// the client's.
func TestDataCommitError(t *testing.T) {
	for _, tc := range []struct {
		err      error
		code     int
		enhanced string
	}{
		{errors.New("queue: /var/spool/ownmx: no space left on device"), 451, "4.3.0"},
		{fmt.Errorf("queue: %w", smtpd.Errorf(452, smtpd.EnhancedCode{4, 3, 1}, "Insufficient system storage")), 452, "4.3.1"},
	} {
		mux := &Mux{}
		mux.Handle("*@example.com", nop)
		rec := &recorder{err: tc.err}
		addr := start(t, mux, rec)
		err := smtptest.Send(addr, "alice@example.net", []string{"bob@example.com"}, testMessage)
		wantReply(t, err, tc.code, tc.enhanced)
		if strings.Contains(err.Error(), "/var/spool") {
			t.Errorf("the client was told %q", err)
		}
	}
}

// TestDataTooLarge checks that a message refused by the DATA reader (552
// 5.3.4) is refused whatever the routes do with it, and that the Mux's own
// spool for a Decider passes the reply on.
func TestDataTooLarge(t *testing.T) {
	for _, first := range []Action{nop, &decider{}, Drop} {
		mux := &Mux{}
		mux.Handle("*@example.com", first)
		rec := &recorder{}
		addr := smtptest.Start(t, &smtpd.Server{
			MaxMessageBytes: 200,
			Rcpt:            smtpd.AcceptDomains("example.com").Then(mux),
			Data:            mux.Handler(rec),
		})
		err := smtptest.Send(addr, "alice@example.net", []string{"bob@example.com"}, testMessage+strings.Repeat("x", 300)+"\r\n")
		wantReply(t, err, 552, "5.3.4")
		if n := len(rec.got()); n != 0 {
			t.Errorf("%T: %d commits of a message too large", first, n)
		}
		if d, ok := first.(*decider); ok && len(d.got()) != 0 {
			t.Errorf("a Decider was asked about a message too large")
		}
	}
}

// TestDataPostmaster checks the recipients that AcceptDomains passes
// without asking the Mux: postmaster, with a route, is committed to it
// (bare "<Postmaster>" too); without one, the message is deferred (451)
// rather than lost, and nothing is committed.
func TestDataPostmaster(t *testing.T) {
	mux := &Mux{}
	mux.Handle("sales@example.com", nop)
	rec := &recorder{}
	addr := start(t, mux, rec)
	wantReply(t, smtptest.Send(addr, "alice@example.net", []string{"sales@example.com", "postmaster@example.com"}, testMessage), 451, "4.3.0")
	if n := len(rec.got()); n != 0 {
		t.Fatalf("%d commits of a message with an unrouted recipient, want none", n)
	}

	mux.Handle("postmaster@", nop)
	c := smtptest.Dial(t, addr)
	dialog(t, c, []step{
		{"", 220},
		{"EHLO client.test", 250},
		{"MAIL FROM:<alice@example.net>", 250},
		{"RCPT TO:<Postmaster>", 250},
		{"RCPT TO:<PostMaster@example.com>", 250},
		{"DATA", 354},
		{testMessage + ".", 250},
	})
	commits := rec.got()
	want := []queue.Delivery{{Action: "postmaster@#1", Rcpt: []string{"postmaster", "PostMaster@example.com"}}}
	if len(commits) != 1 || !reflect.DeepEqual(commits[0].deliveries, want) {
		t.Fatalf("commits %+v, want one with %+v", commits, want)
	}
}

// step is one command of a dialogue and the reply code it must get; ""
// reads the greeting.
type step struct {
	line string
	code int
}

// dialog runs the steps on c, failing the test at the first reply with
// another code.
func dialog(t *testing.T, c *smtptest.Client, steps []step) {
	t.Helper()
	for _, st := range steps {
		var r smtptest.Reply
		if st.line == "" {
			r, _ = c.ReadReply()
		} else {
			r = c.Cmd(st.line)
		}
		if r.Code != st.code {
			t.Fatalf("%q: %s, want %d", st.line, r.Last(), st.code)
		}
	}
}
