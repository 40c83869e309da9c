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
		"me@bücher.example", "postmaster@\u212Ax.example", "me@ｅｘａｍｐｌｅ．ｃｏｍ", "me@xn--zz.example",
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

// ldhLower is the rule for domains before IDNA: lowercased LDH labels, a
// final dot dropped. The reference for ASCII names in FuzzCleanDomain.
func ldhLower(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSuffix(s, "."))
	if s == "" || len(s) > 253 {
		return "", false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", false
		}
		for _, c := range []byte(label) {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return "", false
			}
		}
	}
	return s, true
}

// FuzzCleanDomain checks the mapping of domains: what it accepts becomes
// lowercase LDH that maps to itself again, and an ASCII name is mapped as
// by the plain LDH rule, but for the labels IDNA reserves ("--" in the
// third and fourth places, such as Punycode's "xn--"), which IDNA checks.
func FuzzCleanDomain(f *testing.F) {
	for _, s := range []string{
		"example.com", "Example.COM.", "\u212Ax.example", "bücher.example", "xn--bcher-kva.example",
		"ｅｘａｍｐｌｅ．ｃｏｍ", "ab--c.example", "xn--zz.example", "a..b", "-a.b", "faß.de", "\xff.x", "a\u200db",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := cleanDomain(s)
		if ok {
			if ref, refOK := ldhLower(got); !refOK || ref != got {
				t.Fatalf("cleanDomain(%q) = %q: not lowercase LDH", s, got)
			}
			if again, ok := cleanDomain(got); !ok || again != got {
				t.Fatalf("cleanDomain(%q) = %q, but that maps to %q, %v", s, got, again, ok)
			}
		}
		ascii := true
		for _, c := range []byte(s) {
			if c >= 0x80 {
				ascii = false
			}
		}
		if !ascii {
			return
		}
		ref, refOK := ldhLower(s)
		reserved := false
		for _, label := range strings.Split(ref, ".") {
			if len(label) >= 4 && label[2:4] == "--" {
				reserved = true
			}
		}
		switch {
		case ok && (!refOK || got != ref):
			t.Fatalf("cleanDomain(%q) = %q; the LDH rule gives %q, %v", s, got, ref, refOK)
		case !ok && refOK && !reserved:
			t.Fatalf("cleanDomain(%q) refused an LDH name (%q)", s, ref)
		}
	})
}
