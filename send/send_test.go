package send_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/ownmx/ownmx/dnsx"
	"github.com/ownmx/ownmx/send"
	"github.com/ownmx/ownmx/smtpd"
)

// twoMX is a domain with two MX hosts: mx1 (127.0.0.2) preferred over
// mx2 (127.0.0.3), listed in the zone in the other order.
var twoMX = []string{
	"example.test. IN MX 20 mx2.example.test.",
	"example.test. IN MX 10 mx1.example.test.",
	"mx1.example.test. IN A 127.0.0.2",
	"mx2.example.test. IN A 127.0.0.3",
}

func TestSendDelivers(t *testing.T) {
	w := newWorld(t, twoMX...)
	mx1 := newReceiver("mx1.example.test")
	w.serve("127.0.0.2", mx1.Server)

	if err := w.sender().Send(t.Context(), "alice@origin.test", "bob@example.test", msgOf(testMsg)); err != nil {
		t.Fatal(err)
	}
	got := mx1.one(t)
	if !bytes.Equal(got.msg, []byte(testMsg)) {
		t.Errorf("the receiver got\n%q\nwant\n%q", got.msg, testMsg)
	}
	if got.from != "alice@origin.test" || !slices.Equal(got.rcpt, []string{"bob@example.test"}) {
		t.Errorf("envelope %q -> %q, want alice@origin.test -> [bob@example.test]", got.from, got.rcpt)
	}
	// RFC 6152: BODY=8BITMIME when offered; RFC 1870: the size declared.
	if got.body != "8BITMIME" || got.size != int64(len(testMsg)) {
		t.Errorf("MAIL FROM had BODY=%q SIZE=%d, want 8BITMIME and %d", got.body, got.size, len(testMsg))
	}
	if got.tls || got.smtputf8 {
		t.Errorf("tls %v, smtputf8 %v; want neither", got.tls, got.smtputf8)
	}
	if d := w.dialed(); !slices.Equal(d, []string{"127.0.0.2:25"}) {
		t.Errorf("dialed %v, want only mx1", d)
	}
}

func TestSendNullSender(t *testing.T) {
	w := newWorld(t, twoMX...)
	mx1 := newReceiver("mx1.example.test")
	w.serve("127.0.0.2", mx1.Server)
	if err := w.sender().Send(t.Context(), "", "bob@example.test", msgOf(testMsg)); err != nil {
		t.Fatal(err)
	}
	if got := mx1.one(t); got.from != "" {
		t.Errorf("MAIL FROM %q, want the null sender <>", got.from)
	}
}

// A message read by Send more than once (several hosts) and by others at
// the same time is read with ReadAt from its start each time: a reader
// whose offset moved is sent whole.
func TestSendReadsFromStart(t *testing.T) {
	w := newWorld(t, twoMX...)
	mx1 := newReceiver("mx1.example.test")
	w.serve("127.0.0.2", mx1.Server)
	msg := msgOf(testMsg)
	io.CopyN(io.Discard, msg, 10)
	if err := w.sender().Send(t.Context(), "alice@origin.test", "bob@example.test", msg); err != nil {
		t.Fatal(err)
	}
	if got := mx1.one(t); !bytes.Equal(got.msg, []byte(testMsg)) {
		t.Errorf("the receiver got %q, want the whole message", got.msg)
	}
}

// RFC 5321 §5.1: the hosts in order of preference, each address in turn,
// the next on a connection failure or a 4xx reply.
func TestSendFallback(t *testing.T) {
	tempErr := smtpd.Errorf(451, smtpd.EnhancedCode{4, 3, 0}, "try again later")
	tests := []struct {
		name  string
		setup func(w *world, mx1 *receiver) // mx1 is on 127.0.0.2, not yet served
		dials []string
	}{
		{"mx1 takes it", func(w *world, mx1 *receiver) { w.serve("127.0.0.2", mx1.Server) }, []string{"127.0.0.2:25"}},
		{"connection refused", func(w *world, mx1 *receiver) { w.refuse("127.0.0.2") }, []string{"127.0.0.2:25", "127.0.0.3:25"}},
		{"421 greeting", func(w *world, mx1 *receiver) {
			mx1.Connect = smtpd.ConnectFunc(func(context.Context, *smtpd.Conn) error {
				return smtpd.Errorf(421, smtpd.EnhancedCode{4, 3, 2}, "busy")
			})
			w.serve("127.0.0.2", mx1.Server)
		}, []string{"127.0.0.2:25", "127.0.0.3:25"}},
		{"554 greeting (RFC 5321 §3.1)", func(w *world, mx1 *receiver) {
			mx1.Connect = smtpd.ConnectFunc(func(context.Context, *smtpd.Conn) error { return smtpd.ErrAccessDenied })
			w.serve("127.0.0.2", mx1.Server)
		}, []string{"127.0.0.2:25", "127.0.0.3:25"}},
		{"451 at MAIL", func(w *world, mx1 *receiver) {
			mx1.Mail = smtpd.MailFunc(func(context.Context, *smtpd.Envelope) error { return tempErr })
			w.serve("127.0.0.2", mx1.Server)
		}, []string{"127.0.0.2:25", "127.0.0.3:25"}},
		{"451 at RCPT", func(w *world, mx1 *receiver) {
			mx1.Rcpt = smtpd.RcptFunc(func(context.Context, *smtpd.Envelope, string) error { return tempErr })
			w.serve("127.0.0.2", mx1.Server)
		}, []string{"127.0.0.2:25", "127.0.0.3:25"}},
		{"451 at the end of data", func(w *world, mx1 *receiver) {
			mx1.Data = smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
				io.Copy(io.Discard, r)
				return tempErr
			})
			w.serve("127.0.0.2", mx1.Server)
		}, []string{"127.0.0.2:25", "127.0.0.3:25"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, twoMX...)
			mx1, mx2 := newReceiver("mx1.example.test"), newReceiver("mx2.example.test")
			tt.setup(w, mx1)
			w.serve("127.0.0.3", mx2.Server)
			if err := w.sender().Send(t.Context(), "alice@origin.test", "bob@example.test", msgOf(testMsg)); err != nil {
				t.Fatal(err)
			}
			if n := len(mx1.messages()) + len(mx2.messages()); n != 1 {
				t.Errorf("%d copies delivered, want 1", n)
			}
			if d := w.dialed(); !slices.Equal(d, tt.dials) {
				t.Errorf("dialed %v, want %v", d, tt.dials)
			}
		})
	}
}

// Each address of a host is tried before the next host.
func TestSendNextAddress(t *testing.T) {
	w := newWorld(t,
		"example.test. IN MX 10 mx1.example.test.",
		"example.test. IN MX 20 mx2.example.test.",
		"mx1.example.test. IN A 127.0.0.2",
		"mx1.example.test. IN A 127.0.0.4",
		"mx2.example.test. IN A 127.0.0.3",
	)
	w.refuse("127.0.0.2")
	second := newReceiver("mx1.example.test")
	w.serve("127.0.0.4", second.Server)
	if err := w.sender().Send(t.Context(), "alice@origin.test", "bob@example.test", msgOf(testMsg)); err != nil {
		t.Fatal(err)
	}
	second.one(t)
	if d := w.dialed(); len(d) != 2 || d[1] != "127.0.0.4:25" || !slices.Contains(d, "127.0.0.2:25") {
		t.Errorf("dialed %v, want mx1's two addresses and not mx2", d)
	}
}

// A 5xx reply to MAIL, RCPT or the message is final: no other host is
// tried, and the error is permanent with the server's reply.
func TestSendPermanent(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(mx1 *receiver)
		command string
		code    int
		enh     smtpd.EnhancedCode
	}{
		{"550 at MAIL", func(mx1 *receiver) {
			mx1.Mail = smtpd.MailFunc(func(context.Context, *smtpd.Envelope) error {
				return smtpd.Errorf(550, smtpd.EnhancedCode{5, 7, 1}, "sender refused")
			})
		}, send.CommandMail, 550, smtpd.EnhancedCode{5, 7, 1}},
		{"550 at RCPT", func(mx1 *receiver) {
			mx1.Rcpt = smtpd.RcptFunc(func(context.Context, *smtpd.Envelope, string) error { return smtpd.ErrNoSuchUser })
		}, send.CommandRcpt, 550, smtpd.EnhancedCode{5, 1, 1}},
		{"554 at the end of data", func(mx1 *receiver) {
			mx1.Data = smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
				io.Copy(io.Discard, r)
				return smtpd.Errorf(554, smtpd.EnhancedCode{5, 7, 1}, "spam")
			})
		}, send.CommandDataEnd, 554, smtpd.EnhancedCode{5, 7, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, twoMX...)
			mx1, mx2 := newReceiver("mx1.example.test"), newReceiver("mx2.example.test")
			tt.setup(mx1)
			w.serve("127.0.0.2", mx1.Server)
			w.serve("127.0.0.3", mx2.Server)
			err := w.sender().Send(t.Context(), "alice@origin.test", "bob@example.test", msgOf(testMsg))
			e := sendErr(t, err)
			if !send.IsPermanent(err) || e.Code != tt.code || e.Enhanced != tt.enh || e.Command != tt.command ||
				e.Host != "mx1.example.test" || e.IP.String() != "127.0.0.2" || e.Rcpt != "bob@example.test" {
				t.Errorf("error %+v, want permanent %d %s at %s from mx1 [127.0.0.2]", e, tt.code, tt.enh, tt.command)
			}
			if d := w.dialed(); !slices.Equal(d, []string{"127.0.0.2:25"}) {
				t.Errorf("dialed %v, want mx1 only", d)
			}
			if len(mx2.messages()) != 0 {
				t.Error("mx2 got the message")
			}
		})
	}
}

// When every host fails, the error is temporary unless every failure was
// permanent, and it is the last one that is a server's reply.
func TestSendAllFail(t *testing.T) {
	refuseRcpt := func(code int, enh smtpd.EnhancedCode) func(r *receiver) {
		return func(r *receiver) {
			r.Rcpt = smtpd.RcptFunc(func(context.Context, *smtpd.Envelope, string) error { return smtpd.Errorf(code, enh, "not now") })
		}
	}
	greet := func(code int, enh smtpd.EnhancedCode) func(r *receiver) {
		return func(r *receiver) {
			r.Connect = smtpd.ConnectFunc(func(context.Context, *smtpd.Conn) error { return smtpd.Errorf(code, enh, "go away") })
		}
	}
	tests := []struct {
		name      string
		mx1, mx2  func(r *receiver) // nil: connection refused
		permanent bool
		host      string
		command   string
		code      int
	}{
		{"both 451 at RCPT", refuseRcpt(451, smtpd.EnhancedCode{4, 2, 0}), refuseRcpt(452, smtpd.EnhancedCode{4, 2, 2}),
			false, "mx2.example.test", send.CommandRcpt, 452},
		{"a reply, then a refused connection", refuseRcpt(451, smtpd.EnhancedCode{4, 2, 0}), nil,
			false, "mx1.example.test", send.CommandRcpt, 451},
		{"both refuse the connection", nil, nil, false, "mx2.example.test", send.CommandConnect, 0},
		{"554 greeting, then a refused connection", greet(554, smtpd.EnhancedCode{5, 7, 1}), nil,
			false, "mx2.example.test", send.CommandConnect, 0},
		{"554 greeting at both", greet(554, smtpd.EnhancedCode{5, 7, 1}), greet(554, smtpd.EnhancedCode{5, 7, 1}),
			true, "mx2.example.test", send.CommandGreeting, 554},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, twoMX...)
			for ip, setup := range map[string]func(*receiver){"127.0.0.2": tt.mx1, "127.0.0.3": tt.mx2} {
				if setup == nil {
					w.refuse(ip)
					continue
				}
				r := newReceiver("mx")
				setup(r)
				w.serve(ip, r.Server)
			}
			err := w.sender().Send(t.Context(), "alice@origin.test", "bob@example.test", msgOf(testMsg))
			e := sendErr(t, err)
			if send.IsPermanent(err) != tt.permanent || e.Host != tt.host || e.Command != tt.command || e.Code != tt.code {
				t.Errorf("error %v (permanent %v), want permanent %v from %s at %s, code %d", err, e.Permanent, tt.permanent, tt.host, tt.command, tt.code)
			}
			if len(w.dialed()) != 2 {
				t.Errorf("dialed %v, want both hosts", w.dialed())
			}
		})
	}
}

// The recipient domain's DNS: null MX and a domain that does not exist
// are permanent; the implicit MX is used; a failing lookup is temporary.
func TestSendDNS(t *testing.T) {
	records := []string{
		"nullmx.test. IN MX 0 .",
		"nullmx.test. IN A 127.0.0.2",
		"implicit.test. IN A 127.0.0.2",
		"noaddr.test. IN MX 10 gone.noaddr.test.",
		"flaky.test. IN MX 10 mx.flaky.test.",
		"mx.flaky.test. IN A 127.0.0.2",
		"flakyhost.test. IN MX 10 mx.flakyhost.test.",
		"mx.flakyhost.test. IN A 127.0.0.2",
	}
	tests := []struct {
		rcpt      string
		delivered bool
		permanent bool
		enh       smtpd.EnhancedCode
		is        error
	}{
		{"bob@implicit.test", true, false, smtpd.EnhancedCode{}, nil},                  // RFC 5321 §5.1
		{"bob@nullmx.test", false, true, smtpd.EnhancedCode{5, 1, 10}, dnsx.ErrNullMX}, // RFC 7505 §4.2
		{"bob@nxdomain.test", false, true, smtpd.EnhancedCode{5, 1, 2}, nil},
		{"bob@noaddr.test", false, true, smtpd.EnhancedCode{5, 4, 4}, nil},
		{"bob@flaky.test", false, false, smtpd.EnhancedCode{4, 4, 3}, nil},
		{"bob@flakyhost.test", false, false, smtpd.EnhancedCode{4, 4, 3}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.rcpt, func(t *testing.T) {
			w := newWorld(t, records...)
			w.dns.ServFail("flaky.test.")
			w.dns.ServFail("mx.flakyhost.test.")
			r := newReceiver("mx")
			w.serve("127.0.0.2", r.Server)
			err := w.sender().Send(t.Context(), "alice@origin.test", tt.rcpt, msgOf(testMsg))
			if tt.delivered {
				if err != nil {
					t.Fatal(err)
				}
				r.one(t)
				return
			}
			e := sendErr(t, err)
			if send.IsPermanent(err) != tt.permanent || e.Enhanced != tt.enh {
				t.Errorf("error %v (permanent %v), want permanent %v, %s", err, e.Permanent, tt.permanent, tt.enh)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v does not wrap %v", err, tt.is)
			}
			if len(w.dialed()) != 0 || len(r.messages()) != 0 {
				t.Errorf("dialed %v", w.dialed())
			}
		})
	}
}

// Malformed addresses are refused for good before any lookup.
func TestSendBadAddress(t *testing.T) {
	tests := []struct {
		from, to string
		enh      smtpd.EnhancedCode
	}{
		{"alice@origin.test", "bob", smtpd.EnhancedCode{5, 1, 3}},
		{"alice@origin.test", "@example.test", smtpd.EnhancedCode{5, 1, 3}},
		{"alice@origin.test", "bob@", smtpd.EnhancedCode{5, 1, 3}},
		{"alice@origin.test", "bob@example.test\r\nRCPT TO:<eve@evil.test>", smtpd.EnhancedCode{5, 1, 3}},
		{"alice@origin.test", "bob@example.test>", smtpd.EnhancedCode{5, 1, 3}},
		{"alice@origin.test", "bob@[127.0.0.2]", smtpd.EnhancedCode{5, 1, 3}},
		{"alice@origin.test", "bob@[IPv6:::1]", smtpd.EnhancedCode{5, 1, 3}},
		{"alice@origin.test", "bob@xn--zz.test", smtpd.EnhancedCode{5, 1, 3}},
		{"alice@origin.test", "bob@example..test", smtpd.EnhancedCode{5, 1, 3}},
		{"alice", "bob@example.test", smtpd.EnhancedCode{5, 1, 7}},
		{"alice@origin.test\n", "bob@example.test", smtpd.EnhancedCode{5, 1, 7}},
	}
	for _, tt := range tests {
		t.Run(tt.from+" "+tt.to, func(t *testing.T) {
			w := newWorld(t, twoMX...)
			err := w.sender().Send(t.Context(), tt.from, tt.to, msgOf(testMsg))
			e := sendErr(t, err)
			if !e.Permanent || e.Enhanced != tt.enh {
				t.Errorf("error %v, want permanent %s", err, tt.enh)
			}
			if strings.Contains(tt.to, "[") && !strings.Contains(e.Message, "address literals") {
				t.Errorf("error %v does not say that address literals are not supported", err)
			}
			if w.dns.Queries("example.test.", 0) != 0 || len(w.dialed()) != 0 {
				t.Error("the domain was looked up or dialed")
			}
		})
	}
}

// MX hosts of equal preference are tried in a random order (RFC 5321
// §5.1); the Shuffle seam fixes it.
func TestSendShuffle(t *testing.T) {
	equal := []string{
		"example.test. IN MX 10 mx1.example.test.",
		"example.test. IN MX 10 mx2.example.test.",
		"mx1.example.test. IN A 127.0.0.2",
		"mx2.example.test. IN A 127.0.0.3",
	}
	t.Run("seam", func(t *testing.T) {
		w := newWorld(t, equal...)
		mx1, mx2 := newReceiver("mx1"), newReceiver("mx2")
		w.serve("127.0.0.2", mx1.Server)
		w.serve("127.0.0.3", mx2.Server)
		s := w.sender()
		s.Shuffle = func(n int, swap func(i, j int)) {
			for i := range n / 2 {
				swap(i, n-1-i)
			}
		}
		if err := s.Send(t.Context(), "alice@origin.test", "bob@example.test", msgOf(testMsg)); err != nil {
			t.Fatal(err)
		}
		first := w.dialed()[0]
		s.Shuffle = func(int, func(i, j int)) {}
		if err := s.Send(t.Context(), "alice@origin.test", "bob@example.test", msgOf(testMsg)); err != nil {
			t.Fatal(err)
		}
		if second := w.dialed()[1]; first == second {
			t.Errorf("the same host %s was first with the order reversed and kept", first)
		}
	})
	t.Run("only within a preference", func(t *testing.T) {
		w := newWorld(t,
			"example.test. IN MX 10 mx1.example.test.",
			"example.test. IN MX 20 mx2.example.test.",
			"example.test. IN MX 20 mx3.example.test.",
			"mx1.example.test. IN A 127.0.0.2",
			"mx2.example.test. IN A 127.0.0.3",
			"mx3.example.test. IN A 127.0.0.4",
		)
		w.refuse("127.0.0.2")
		for _, ip := range []string{"127.0.0.3", "127.0.0.4"} {
			w.serve(ip, newReceiver("mx").Server)
		}
		s := w.sender()
		s.Shuffle = func(n int, swap func(i, j int)) {
			for i := range n / 2 {
				swap(i, n-1-i)
			}
		}
		if err := s.Send(t.Context(), "alice@origin.test", "bob@example.test", msgOf(testMsg)); err != nil {
			t.Fatal(err)
		}
		if d := w.dialed(); !slices.Equal(d, []string{"127.0.0.2:25", "127.0.0.4:25"}) {
			t.Errorf("dialed %v, want mx1 (preference 10), then mx3 (20, put first of its preference)", d)
		}
	})
	t.Run("default", func(t *testing.T) {
		w := newWorld(t, equal...)
		mx1, mx2 := newReceiver("mx1"), newReceiver("mx2")
		w.serve("127.0.0.2", mx1.Server)
		w.serve("127.0.0.3", mx2.Server)
		s := w.sender()
		s.Shuffle = nil
		// Each host is first half the time: 40 sends all to one host
		// would happen by chance once in 2^39 runs.
		for range 40 {
			if err := s.Send(t.Context(), "alice@origin.test", "bob@example.test", msgOf(testMsg)); err != nil {
				t.Fatal(err)
			}
		}
		if len(mx1.messages()) == 0 || len(mx2.messages()) == 0 {
			t.Errorf("mx1 got %d, mx2 %d of 40: not shuffled", len(mx1.messages()), len(mx2.messages()))
		}
	})
}

// MaxAddresses bounds the connections one Send opens.
func TestSendMaxAddresses(t *testing.T) {
	w := newWorld(t,
		"example.test. IN MX 10 mx1.example.test.",
		"example.test. IN MX 20 mx2.example.test.",
		"example.test. IN MX 30 mx3.example.test.",
		"mx1.example.test. IN A 127.0.0.2",
		"mx2.example.test. IN A 127.0.0.3",
		"mx3.example.test. IN A 127.0.0.4",
	)
	for _, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		w.refuse(ip)
	}
	s := w.sender()
	s.MaxAddresses = 2
	err := s.Send(t.Context(), "alice@origin.test", "bob@example.test", msgOf(testMsg))
	if e := sendErr(t, err); e.Permanent || e.Command != send.CommandConnect {
		t.Errorf("error %v, want a temporary connection failure", err)
	}
	if d := w.dialed(); !slices.Equal(d, []string{"127.0.0.2:25", "127.0.0.3:25"}) {
		t.Errorf("dialed %v, want the first two hosts only", d)
	}
}

// A Sender without its required fields fails without sending, and the
// failure is temporary: the queue keeps the message while the operator
// fixes the configuration.
func TestSendMisconfigured(t *testing.T) {
	w := newWorld(t, twoMX...)
	for _, s := range []*send.Sender{{Resolver: dnsx.NewResolver(w.dns.Addr)}, {Hostname: "out.origin.test"}} {
		err := s.Send(t.Context(), "alice@origin.test", "bob@example.test", msgOf(testMsg))
		if err == nil || send.IsPermanent(err) {
			t.Errorf("Send with %+v: %v, want a temporary error", s, err)
		}
	}
}
