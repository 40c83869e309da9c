package auth

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

// stored is a message the fake store kept.
type stored struct {
	msg  string
	junk bool
}

// memStore is a store that keeps messages in memory.
type memStore struct {
	mu   sync.Mutex
	msgs []stored
}

func (s *memStore) Data(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, stored{string(b), env.Quarantine})
	return nil
}

func (s *memStore) take() []stored {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.msgs
	s.msgs = nil
	return m
}

// TestEndToEnd runs a real smtpd.Server with the auth glue on loopback,
// DNS from dnstest, and sends messages for each policy and alignment mode
// with go-smtp's client: the SMTP reply and the stored header are checked.
func TestEndToEnd(t *testing.T) {
	c, srv := newChecker(t)
	srv.ServFail("_dmarc.sf.example.com")
	store := &memStore{}
	addr := smtptest.Start(t, &smtpd.Server{
		Hostname: "mx.ownmx.test",
		Mail:     c.MailHandler(nil),
		Rcpt:     smtpd.AcceptDomains("ownmx.test"),
		Data:     smtpd.Chain(store, c.Middleware("mx.ownmx.test")),
	})

	msg := testMessage
	for _, tc := range []struct {
		policy, name string
		mailFrom     string
		msg          string
		code         int
		enhanced     string
		junk         bool
		header       string // a line of the stored Authentication-Results
	}{
		{"p=reject", "relaxed DKIM by a subdomain", "bounce@elsewhere.example.org",
			sign(t, msg("alice@example.com"), "mail.example.com", "ed"), 250, "", false, "dmarc=pass header.from=example.com"},
		{"p=reject", "relaxed SPF by a subdomain", "bounce@lo.example.com",
			msg("alice@example.com"), 250, "", false, "spf=pass smtp.mailfrom=bounce@lo.example.com"},
		{"p=reject", "unauthenticated", "alice@example.com",
			msg("alice@example.com"), 550, "5.7.1", false, ""},
		{"p=reject", "strict DKIM by the parent domain", "bounce@elsewhere.example.org",
			sign(t, msg("alice@strict.example.com"), "example.com", "sel"), 550, "5.7.1", false, ""},
		{"p=reject", "strict DKIM by the same domain", "bounce@elsewhere.example.org",
			sign(t, msg("alice@strict.example.com"), "strict.example.com", "sel"), 250, "", false, "dmarc=pass header.from=strict.example.com"},
		{"p=quarantine", "unauthenticated", "alice@example.org",
			msg("alice@example.org"), 250, "", true, `dmarc=fail reason="policy quarantine" header.from=example.org`},
		{"p=quarantine", "relaxed DKIM", "alice@example.org",
			sign(t, msg("alice@example.org"), "example.org", "sel"), 250, "", false, "dkim=pass header.d=example.org header.i=@example.org"},
		{"sp=quarantine", "unauthenticated subdomain", "alice@sub.example.com",
			msg("alice@sub.example.com"), 250, "", true, `dmarc=fail reason="policy quarantine" header.from=sub.example.com`},
		{"p=none", "unauthenticated", "alice@example.net",
			msg("alice@example.net"), 250, "", false, `dmarc=fail reason="policy none" header.from=example.net`},
		{"DNS SERVFAIL", "policy unknown", "alice@sf.example.com",
			msg("alice@sf.example.com"), 451, "4.7.0", false, ""},
		{"p=reject", "forged Authentication-Results", "alice@example.com",
			"Authentication-Results: mx.ownmx.test; dmarc=pass header.from=example.com\r\n" + msg("alice@example.com"), 550, "5.7.1", false, ""},
	} {
		t.Run(tc.policy+"/"+tc.name, func(t *testing.T) {
			err := smtptest.Send(addr, tc.mailFrom, []string{"bob@ownmx.test"}, tc.msg)
			code, enhanced := 250, ""
			if err != nil {
				var se *smtpd.Error
				if !errors.As(err, &se) {
					t.Fatalf("Send: %v", err)
				}
				code, enhanced = se.Code, se.Enhanced.String()
			}
			got := store.take()
			t.Logf("%s, %s: MAIL FROM:<%s> From: %s -> %d %s %v", tc.policy, tc.name, tc.mailFrom,
				strings.TrimSpace(strings.SplitN(strings.SplitN(tc.msg, "From: ", 2)[1], "\r\n", 2)[0]), code, enhanced, err)
			if code != tc.code || enhanced != tc.enhanced {
				t.Fatalf("reply %d %s (%v), want %d %s", code, enhanced, err, tc.code, tc.enhanced)
			}
			if tc.code != 250 {
				if len(got) != 0 {
					t.Fatalf("refused message stored anyway")
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("%d messages stored, want 1", len(got))
			}
			if got[0].junk != tc.junk {
				t.Errorf("stored in Junk: %v, want %v", got[0].junk, tc.junk)
			}
			head, _, _ := strings.Cut(got[0].msg, "\r\n\r\n")
			if !strings.HasPrefix(head, "Authentication-Results: mx.ownmx.test;\r\n") {
				t.Errorf("stored header does not start with our Authentication-Results:\n%s", head)
			}
			if !strings.Contains(head, "\t"+tc.header) {
				t.Errorf("stored header lacks %q:\n%s", tc.header, head)
			}
			if strings.Count(head, "mx.ownmx.test;") != 1 {
				t.Errorf("more than one Authentication-Results with our id:\n%s", head)
			}
			if !strings.Contains(got[0].msg, "\r\nReceived: ") {
				t.Errorf("server's Received header missing after ours:\n%s", head)
			}
		})
	}
}
