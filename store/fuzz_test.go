package store

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ownmx/ownmx/smtpd"
)

// FuzzMailbox checks that whatever a client sends in RCPT TO, Mailbox
// either refuses it with an SMTP reply or names a directory exactly two
// levels under Root made only of the allowed characters.
func FuzzMailbox(f *testing.F) {
	for _, s := range []string{
		"me@example.com", "Me+tag@Example.COM.", "postmaster", "../../etc/passwd@x",
		`"a@b"@example.com`, "a/b@c", "..@..", ".@.", "me@[127.0.0.1]", "x@-a.b",
		"\x00@\x00", "é@example.com", "a..b@example.com", "+@example.com", "me@a..b",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	root := filepath.Join("/", "srv", "mail")
	catchAll := &Mailboxes{Root: root}
	listed := &Mailboxes{Root: root, Domains: []string{"example.com"}, Users: []string{"me"}}
	f.Fuzz(func(t *testing.T, addr string, useList bool) {
		m := catchAll
		if useList {
			m = listed
		}
		dir, err := m.Mailbox(addr)
		if err != nil {
			var reply *smtpd.Error
			if !errors.As(err, &reply) || reply.Code != 550 {
				t.Fatalf("Mailbox(%q): err = %v, want a 550 reply", addr, err)
			}
			return
		}
		rel, rerr := filepath.Rel(root, dir)
		if rerr != nil {
			t.Fatalf("Mailbox(%q) = %q, not under %s", addr, dir, root)
		}
		parts := strings.Split(rel, string(filepath.Separator))
		if len(parts) != 2 {
			t.Fatalf("Mailbox(%q) = %q: %d levels under the root, want 2", addr, dir, len(parts))
		}
		for _, p := range parts {
			if p == "" || p == "." || p == ".." || p[0] == '.' || p[0] == '-' || strings.Contains(p, "..") {
				t.Fatalf("Mailbox(%q) = %q: unsafe name %q", addr, dir, p)
			}
			for _, c := range []byte(p) {
				if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
					t.Fatalf("Mailbox(%q) = %q: byte %q in %q", addr, dir, c, p)
				}
			}
		}
	})
}
