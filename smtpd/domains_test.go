package smtpd_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// TestAcceptDomainsSpellings checks that configured and given domains are
// compared in A-labels and ASCII lower case (RFC 5890 §2.3.2.1, UTS #46
// lookup), so that a domain is accepted exactly when the rest of the
// server, which maps names the same way, sees one of its own.
func TestAcceptDomainsSpellings(t *testing.T) {
	d := smtpd.AcceptDomains("kx.example", "Bücher.example.", "xn--mnchen-3ya.example", "a_b.example", "xn--zz.example")
	for _, tc := range []struct {
		domain string
		ok     bool
	}{
		{"kx.example", true},
		{"KX.EXAMPLE", true},
		{"kx.example.", true},
		{"\u212Ax.example", true}, // KELVIN SIGN folds to k: the same domain
		{"\u212AX.EXAMPLE.", true},
		{"ｋｘ.example", true}, // full-width
		{"kx。example", true}, // ideographic full stop
		{"bücher.example", true},
		{"BÜCHER.example", true},
		{"xn--bcher-kva.example", true},
		{"XN--BCHER-KVA.EXAMPLE.", true},
		{"münchen.example", true},
		{"xn--mnchen-3ya.example", true},
		{"a_b.example", true},
		{"A_B.example", true},
		{"kx.example..", false},
		{"k\u0445.example", false}, // Cyrillic ha is not x
		{"xn--zz.example", false},  // does not convert: neither configured nor given
		{"XN--ZZ.example", false},
		{"bu\u0308cher.example", true}, // u and a combining diaeresis: NFC makes it ü
		{"b\xffcher.example", false},
		{"a\u05D0.example", false},
		{"", false},
		{".", false},
		{"example", false},
	} {
		if got := d.Accepts(tc.domain); got != tc.ok {
			t.Errorf("Accepts(%q) = %v, want %v", tc.domain, got, tc.ok)
		}
	}
}

// TestAcceptDomainsPostmaster checks that only "postmaster" in ASCII
// letters of any case skips the handler behind AcceptDomains (RFC 5321
// §4.5.1): strings.EqualFold would also fold U+017F LATIN SMALL LETTER
// LONG S and U+212A KELVIN SIGN.
func TestAcceptDomainsPostmaster(t *testing.T) {
	errAsked := errors.New("asked the next handler")
	d := smtpd.AcceptDomains("kx.example").Then(smtpd.RcptFunc(func(ctx context.Context, env *smtpd.Envelope, to string) error {
		return errAsked
	}))
	for _, tc := range []struct {
		to   string
		want error
	}{
		{"postmaster", nil},
		{"Postmaster", nil},
		{"POSTMASTER", nil},
		{"postmaster@kx.example", nil},
		{"PostMaster@\u212Ax.example", nil},
		{"po\u017Ftmaster", smtpd.ErrRelayDenied},
		{"PO\u017FTMASTER", smtpd.ErrRelayDenied},
		{"po\u017Ftmaster@kx.example", errAsked},
		{"postma\u017Fter@kx.example", errAsked},
		{"postmaster\u200B@kx.example", errAsked},
		{"postmaster@elsewhere.example", smtpd.ErrRelayDenied},
		{"postmaster@xn--zz.example", smtpd.ErrRelayDenied},
		{"bob@kx.example", errAsked},
	} {
		if got := d.Rcpt(t.Context(), &smtpd.Envelope{}, tc.to); got != tc.want {
			t.Errorf("Rcpt(%q) = %v, want %v", tc.to, got, tc.want)
		}
	}
}

// TestAcceptDomainsOverSMTP sends the spellings over SMTP: a recipient
// at kx.example written with the Kelvin sign or in full-width letters is
// taken at RCPT and its message at DATA; a domain that does not convert
// gets 550 5.7.1, and a long-s postmaster at kx.example is asked about
// like any other local part.
func TestAcceptDomainsOverSMTP(t *testing.T) {
	var mu sync.Mutex
	var stored [][]string
	addr := smtptest.Start(t, &smtpd.Server{
		Hostname: "mx.kx.example",
		Rcpt: smtpd.AcceptDomains("kx.example").Then(smtpd.RcptFunc(func(ctx context.Context, env *smtpd.Envelope, to string) error {
			if local, _, _ := smtpd.SplitAddress(to); local != "bob" {
				return smtpd.ErrNoSuchUser
			}
			return nil
		})),
		Data: smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
			if _, err := io.Copy(io.Discard, r); err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			stored = append(stored, env.Rcpt)
			return nil
		}),
	})
	c := smtptest.Dial(t, addr)
	if r, err := c.ReadReply(); err != nil || r.Code != 220 {
		t.Fatalf("greeting %v, %v", r, err)
	}
	for _, step := range []struct{ cmd, want string }{
		{"EHLO client.example", "250 "},
		{"MAIL FROM:<alice@sender.example> SMTPUTF8", "250 "},
		{"RCPT TO:<bob@\u212Ax.example>", "250 "},
		{"RCPT TO:<bob@ｋｘ.example>", "250 "},
		{"RCPT TO:<bob@xn--zz.example>", "550 5.7.1 "},
		{"RCPT TO:<bob@k\u0445.example>", "550 5.7.1 "},
		{"RCPT TO:<po\u017Ftmaster>", "501 5.1.3 "}, // the parser knows only an ASCII <Postmaster>
		{"RCPT TO:<po\u017Ftmaster@kx.example>", "550 5.1.1 "},
		{"RCPT TO:<Postmaster@\u212Ax.example>", "250 "},
		{"DATA", "354 "},
		{"Subject: hi\r\n\r\nhello\r\n.", "250 "},
	} {
		if got := c.Cmd(step.cmd).Last(); !strings.HasPrefix(got, step.want) {
			t.Errorf("%s: %s, want %s", step.cmd, got, step.want)
		}
	}
	c.Cmd("QUIT")
	mu.Lock()
	defer mu.Unlock()
	want := "bob@\u212Ax.example bob@ｋｘ.example Postmaster@\u212Ax.example"
	if len(stored) != 1 || strings.Join(stored[0], " ") != want {
		t.Errorf("stored for %q, want one message for %q", stored, want)
	}
}

// TestToASCII: the one form in which smtpd, auth and store compare and
// look up domains.
func TestToASCII(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Example.COM", "example.com"},
		{"example.com.", "example.com."},
		{"_dmarc.Example.com", "_dmarc.example.com"}, // ASCII: only lower-cased
		{"ab--cd.example", "ab--cd.example"},
		{"Bücher.example", "xn--bcher-kva.example"},
		{"xn--bcher-KVA.example", "xn--bcher-kva.example"},
		{"\u212ax.example", "kx.example"},                                  // KELVIN SIGN
		{"\uff56\uff49\uff43\uff54\uff49\uff4d.example", "victim.example"}, // full width
		{"\u2174ictim.example", "victim.example"},                          // SMALL ROMAN NUMERAL FIVE
		{"victim\u3002example", "victim.example"},                          // IDEOGRAPHIC FULL STOP
		{"xn--zz.example", ""},                                             // bad Punycode
		{"\xff.example", ""},                                               // not UTF-8
		{"\u05d0a.example", ""},                                            // breaks the bidi rule
	} {
		got, err := smtpd.ToASCII(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("ToASCII(%q) = %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ToASCII(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
