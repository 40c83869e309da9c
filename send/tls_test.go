package send_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ownmx/ownmx/mtasts"
	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// STARTTLS is used whenever offered; without an enforced MTA-STS policy
// the certificate is not checked (RFC 7435), here one for another name
// that nobody trusts.
func TestSendSTARTTLS(t *testing.T) {
	w := newWorld(t, twoMX...)
	mx1 := newReceiver("mx1.example.test")
	mx1.TLSConfig, _ = smtptest.TLSConfigs(t, "someone-else.test")
	w.serve("127.0.0.2", mx1.Server)
	if err := w.sender().Send(t.Context(), "alice@origin.test", "bob@example.test", msgOf(testMsg)); err != nil {
		t.Fatal(err)
	}
	got := mx1.one(t)
	if !got.tls {
		t.Error("the message came without TLS")
	}
	if !bytes.Equal(got.msg, []byte(testMsg)) {
		t.Errorf("over TLS the receiver got %q, want %q", got.msg, testMsg)
	}
	// The EHLO after STARTTLS is answered too, and the server's extensions
	// under TLS are the ones used: 8BITMIME and SIZE here.
	if got.body != "8BITMIME" || got.size != int64(len(testMsg)) {
		t.Errorf("MAIL FROM under TLS had BODY=%q SIZE=%d", got.body, got.size)
	}
}

// A server whose TLS handshake fails is tried again at once without TLS,
// as Postfix does: clear text beats no delivery when TLS is not required.
func TestSendTLSFailureFallsBack(t *testing.T) {
	w := newWorld(t, twoMX...)
	mx1 := newReceiver("mx1.example.test")
	mx1.TLSConfig = &tls.Config{} // offers STARTTLS, has no certificate
	w.serve("127.0.0.2", mx1.Server)
	if err := w.sender().Send(t.Context(), "alice@origin.test", "bob@example.test", msgOf(testMsg)); err != nil {
		t.Fatal(err)
	}
	if got := mx1.one(t); got.tls {
		t.Error("the message came over TLS")
	}
	if d := w.dialed(); !slices.Equal(d, []string{"127.0.0.2:25", "127.0.0.2:25"}) {
		t.Errorf("dialed %v, want mx1 twice", d)
	}
}

// A 454 to STARTTLS leaves the session in clear text, where it goes on.
func TestSendSTARTTLSRefused(t *testing.T) {
	w := newWorld(t, twoMX...)
	f := w.fakeMTA("127.0.0.2", []string{"STARTTLS"}, map[string]string{"STARTTLS": "454 4.7.0 TLS not available now"})
	if err := w.sender().Send(t.Context(), "alice@origin.test", "bob@example.test", msgOf(testMsg)); err != nil {
		t.Fatal(err)
	}
	want := []string{"EHLO out.origin.test", "STARTTLS", "MAIL FROM:<alice@origin.test>", "RCPT TO:<bob@example.test>", "DATA", "QUIT"}
	if got := f.read(); !slices.Equal(got, want) {
		t.Errorf("the server read\n%q\nwant\n%q", got, want)
	}
	if len(w.dialed()) != 1 {
		t.Errorf("dialed %v, want one connection", w.dialed())
	}
}

// fixedPolicy is a PolicySource that gives one policy to every domain and
// notes the domains asked about.
type fixedPolicy struct {
	policy *mtasts.Policy
	err    error
	mu     sync.Mutex
	asked  []string
}

func (p *fixedPolicy) Policy(ctx context.Context, domain string) (*mtasts.Policy, error) {
	p.mu.Lock()
	p.asked = append(p.asked, domain)
	p.mu.Unlock()
	return p.policy, p.err
}

// RFC 8461: under a policy in enforce mode, only the MX hosts it names,
// only over TLS, only with a certificate valid for the host's name; in
// testing mode, as without a policy.
func TestSendMTASTS(t *testing.T) {
	enforce := &mtasts.Policy{Mode: mtasts.Enforce, MX: []string{"*.example.test"}, MaxAge: 86400}
	tests := []struct {
		name      string
		policy    *mtasts.Policy
		mx1       func(w *world) *receiver // on 127.0.0.2; mx2 is absent
		delivered bool
		reason    string // in the error's message when not delivered
	}{
		{"enforce, certificate valid for the host", enforce,
			func(w *world) *receiver { return w.tlsReceiver("mx1.example.test", "mx1.example.test") }, true, ""},
		{"enforce, certificate for another name", enforce,
			func(w *world) *receiver { return w.tlsReceiver("mx1.example.test", "mx.elsewhere.test") }, false, "TLS handshake failed"},
		{"enforce, certificate not trusted", enforce,
			func(w *world) *receiver {
				r := newReceiver("mx1.example.test")
				r.TLSConfig, _ = smtptest.TLSConfigs(t, "mx1.example.test")
				return r
			}, false, "TLS handshake failed"},
		{"enforce, no STARTTLS", enforce,
			func(w *world) *receiver { return newReceiver("mx1.example.test") }, false, "STARTTLS not offered"},
		{"enforce, TLS handshake fails", enforce,
			func(w *world) *receiver {
				r := newReceiver("mx1.example.test")
				r.TLSConfig = &tls.Config{}
				return r
			}, false, "TLS handshake failed"},
		{"enforce, MX host not in the policy", &mtasts.Policy{Mode: mtasts.Enforce, MX: []string{"mx.elsewhere.test"}},
			func(w *world) *receiver { return w.tlsReceiver("mx1.example.test", "mx1.example.test") }, false, "does not name this MX host"},
		{"testing, certificate for another name", &mtasts.Policy{Mode: mtasts.Testing, MX: []string{"mx.elsewhere.test"}},
			func(w *world) *receiver { return w.tlsReceiver("mx1.example.test", "mx.elsewhere.test") }, true, ""},
		{"testing, no STARTTLS", &mtasts.Policy{Mode: mtasts.Testing, MX: []string{"*.example.test"}},
			func(w *world) *receiver { return newReceiver("mx1.example.test") }, true, ""},
		{"none", &mtasts.Policy{Mode: mtasts.None},
			func(w *world) *receiver { return newReceiver("mx1.example.test") }, true, ""},
		{"no policy", nil,
			func(w *world) *receiver { return newReceiver("mx1.example.test") }, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t,
				"example.test. IN MX 10 mx1.example.test.",
				"mx1.example.test. IN A 127.0.0.2",
			)
			mx1 := tt.mx1(w)
			w.serve("127.0.0.2", mx1.Server)
			s := w.sender()
			p := &fixedPolicy{policy: tt.policy}
			s.MTASTS = p
			err := s.Send(t.Context(), "alice@origin.test", "bob@example.test", msgOf(testMsg))
			if tt.delivered {
				if err != nil {
					t.Fatal(err)
				}
				mx1.one(t)
				return
			}
			e := sendErr(t, err)
			if e.Permanent || e.Enhanced != (smtpd.EnhancedCode{4, 7, 5}) || !strings.Contains(e.Message, "MTA-STS") || !strings.Contains(e.Message, tt.reason) {
				t.Errorf("error %v, want a temporary 4.7.5 saying MTA-STS and %q", err, tt.reason)
			}
			if len(mx1.messages()) != 0 {
				t.Error("the message was delivered")
			}
			if !slices.Equal(p.asked, []string{"example.test"}) {
				t.Errorf("policy asked for %q, want [example.test]", p.asked)
			}
		})
	}
}

// Under an enforce policy the hosts it does not name are skipped, never
// connected to, and a host it names takes the message over TLS.
func TestSendMTASTSSkipsHost(t *testing.T) {
	w := newWorld(t, twoMX...)
	mx1 := w.tlsReceiver("mx1.example.test", "mx1.example.test")
	mx2 := w.tlsReceiver("mx2.example.test", "mx2.example.test")
	w.serve("127.0.0.2", mx1.Server)
	w.serve("127.0.0.3", mx2.Server)
	s := w.sender()
	s.MTASTS = &fixedPolicy{policy: &mtasts.Policy{Mode: mtasts.Enforce, MX: []string{"mx2.example.test"}}}
	if err := s.Send(t.Context(), "alice@origin.test", "bob@example.test", msgOf(testMsg)); err != nil {
		t.Fatal(err)
	}
	if got := mx2.one(t); !got.tls {
		t.Error("mx2 got the message without TLS")
	}
	if d := w.dialed(); !slices.Equal(d, []string{"127.0.0.3:25"}) {
		t.Errorf("dialed %v, want mx2 only", d)
	}
}

// A host that fails the policy is skipped for the next, which meets it.
func TestSendMTASTSNextHost(t *testing.T) {
	w := newWorld(t, twoMX...)
	mx1 := w.tlsReceiver("mx1.example.test", "wrong.example.test")
	mx2 := w.tlsReceiver("mx2.example.test", "mx2.example.test")
	w.serve("127.0.0.2", mx1.Server)
	w.serve("127.0.0.3", mx2.Server)
	s := w.sender()
	var logged bytes.Buffer
	s.Logger = slog.New(slog.NewTextHandler(&logged, nil))
	s.MTASTS = &fixedPolicy{policy: &mtasts.Policy{Mode: mtasts.Enforce, MX: []string{"*.example.test"}}}
	if err := s.Send(t.Context(), "alice@origin.test", "bob@example.test", msgOf(testMsg)); err != nil {
		t.Fatal(err)
	}
	mx2.one(t)
	if len(mx1.messages()) != 0 {
		t.Error("mx1, whose certificate is for another name, got the message")
	}
	// The host skipped, and why, are in the log.
	var skipped string
	for line := range strings.Lines(logged.String()) {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "host=mx1.example.test") {
			skipped = line
		}
	}
	if !strings.Contains(skipped, "MTA-STS") || !strings.Contains(skipped, "certificate") {
		t.Errorf("no warning about mx1's certificate in the log:\n%s", logged.String())
	}
}

// A policy that cannot be fetched stops the delivery for now: nothing is
// sent without knowing what the domain asks.
func TestSendMTASTSUnknown(t *testing.T) {
	w := newWorld(t, twoMX...)
	s := w.sender()
	s.MTASTS = &fixedPolicy{err: errors.New("mta-sts.example.test: connection refused")}
	err := s.Send(t.Context(), "alice@origin.test", "bob@example.test", msgOf(testMsg))
	if e := sendErr(t, err); e.Permanent || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error %v, want a temporary one with the fetch's error", err)
	}
	if len(w.dialed()) != 0 {
		t.Errorf("dialed %v", w.dialed())
	}
}

// The policy is asked for the domain in A-labels, lower case.
func TestSendMTASTSDomainForm(t *testing.T) {
	w := newWorld(t,
		"xn--bcher-kva.test. IN MX 10 mx1.example.test.",
		"mx1.example.test. IN A 127.0.0.2",
	)
	mx1 := newReceiver("mx1.example.test")
	w.serve("127.0.0.2", mx1.Server)
	s := w.sender()
	p := &fixedPolicy{}
	s.MTASTS = p
	if err := s.Send(t.Context(), "alice@origin.test", "bob@Bücher.TEST", msgOf(testMsg)); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.asked, []string{"xn--bcher-kva.test"}) {
		t.Errorf("policy asked for %q", p.asked)
	}
}
