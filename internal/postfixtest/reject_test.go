package postfixtest

import (
	"errors"
	"strings"
	"testing"

	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// TestRecipients shows which recipients the instance takes at RCPT: the
// Users at Domains, in any case; 550 5.1.1 for other users there
// (RFC 3463 §3.2: bad destination mailbox address); 554 5.7.1 for other
// domains, which it would have to relay; and everyone at Domains when
// Users is nil.
func TestRecipients(t *testing.T) {
	t.Parallel()
	listed := Start(t, Options{
		Domains: []string{"example.com", "example.net"},
		Users:   []string{"alice@example.com", "carol@example.com", "Bob@Example.NET", "ZOË@example.com"},
	})
	everyone := Start(t, Options{Domains: []string{"example.com"}})
	nobody := Start(t, Options{Domains: []string{"example.com"}, Users: []string{}})
	tests := []struct {
		name     string
		in       *Instance
		rcpt     string
		code     int    // 0: accepted
		enhanced string // of the refusal
		text     string // in the refusal
	}{
		{"listed user", listed, "alice@example.com", 0, "", ""},
		{"listed user in capitals", listed, "CAROL@EXAMPLE.COM", 0, "", ""},
		{"listed in capitals, sent in lower case", listed, "bob@example.net", 0, "", ""},
		{"listed UTF-8 user", listed, "zoë@example.com", 0, "", ""},
		{"unknown user", listed, "mallory@example.com", 550, "5.1.1", "User unknown in virtual mailbox table"},
		{"unknown user at the second domain", listed, "alice@example.net", 550, "5.1.1", "User unknown"},
		{"listed local part at another domain", listed, "alice@example.org", 554, "5.7.1", "Relay access denied"},
		{"subdomain of a domain", listed, "alice@sub.example.com", 554, "5.7.1", "Relay access denied"},
		{"any user when Users is nil", everyone, "whoever@example.com", 0, "", ""},
		{"another domain when Users is nil", everyone, "whoever@example.net", 554, "5.7.1", "Relay access denied"},
		{"no user when Users is empty", nobody, "alice@example.com", 550, "5.1.1", "User unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := smtptest.Send(tc.in.Addr, "sender@example.org", []string{tc.rcpt}, "Subject: r\r\n\r\nbody\r\n")
			if tc.code == 0 {
				if err != nil {
					t.Fatalf("RCPT %s refused: %v", tc.rcpt, err)
				}
				tc.in.Wait(t, tc.rcpt, 1)
				return
			}
			var e *smtpd.Error
			if !errors.As(err, &e) {
				t.Fatalf("RCPT %s: %v, want a refusal %d %s", tc.rcpt, err, tc.code, tc.enhanced)
			}
			if e.Code != tc.code || e.Enhanced.String() != tc.enhanced || !strings.Contains(e.Message, tc.text) {
				t.Errorf("RCPT %s: %d %s %q, want %d %s with %q", tc.rcpt, e.Code, e.Enhanced, e.Message, tc.code, tc.enhanced, tc.text)
			}
		})
	}
}
