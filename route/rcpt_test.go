package route

import (
	"testing"
	"time"

	"github.com/ownmx/ownmx/smtpd/smtptest"
	"github.com/ownmx/ownmx/store"
)

// TestRcptSMTP talks SMTP to a server whose Rcpt handler is
// AcceptDomains(...).Then(mux): a recipient that no pattern matches gets
// 550 5.1.1, one that a pattern matches 250, one at another domain 550
// 5.7.1 (the relay protection before the Mux), and a Store over a catch-all
// Mailboxes is asked too: past MaxNewMailboxesPerHour a new mailbox gets
// 450 4.2.1, while a known one is still accepted.
func TestRcptSMTP(t *testing.T) {
	boxes := &store.Mailboxes{
		Root:                   t.TempDir(),
		Domains:                []string{"example.org"},
		MaxNewMailboxesPerHour: 1,
		Now:                    func() time.Time { return testNow },
	}
	mux := &Mux{Now: func() time.Time { return testNow }}
	mux.Handle("sales@example.com", nop)
	mux.Handle("orders+*@example.com", nop, nop)
	mux.Handle("*@example.org", Store(boxes))
	c := smtptest.Dial(t, start(t, mux, &recorder{}))
	if r, err := c.ReadReply(); err != nil || r.Code != 220 {
		t.Fatalf("greeting: %v, %v", r, err)
	}
	for _, step := range []struct{ line, want string }{
		{"EHLO client.test", ""},
		{"MAIL FROM:<alice@example.net>", "250 2.1.0"},
		{"RCPT TO:<sales@example.com>", "250 2.1.5"},
		{"RCPT TO:<SALES+x@Example.COM>", "250 2.1.5"},
		{"RCPT TO:<orders+1@example.com>", "250 2.1.5"},
		{"RCPT TO:<nobody@example.com>", "550 5.1.1"},
		{"RCPT TO:<orders@example.com>", "550 5.1.1"},
		{"RCPT TO:<sales@example.net>", "550 5.7.1"},
		{"RCPT TO:<first@example.org>", "250 2.1.5"},   // the hour's new mailbox
		{"RCPT TO:<first+x@example.org>", "250 2.1.5"}, // the same mailbox
		{"RCPT TO:<second@example.org>", "450 4.2.1"},  // past the bound
		{"RCPT TO:<postmaster@example.org>", "250 2.1.5"},
	} {
		r := c.Cmd(step.line)
		if step.want != "" && !startsWith(r.Last(), step.want) {
			t.Errorf("%s: %s, want %s", step.line, r.Last(), step.want)
		}
	}
}

func startsWith(s, prefix string) bool { return len(s) >= len(prefix) && s[:len(prefix)] == prefix }
