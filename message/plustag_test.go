package message_test

import (
	"strings"
	"testing"

	"github.com/ownmx/ownmx/message"
)

// TestPlusTag: subaddresses (RFC 5233 §3) split at the first "+" of the
// local part, the local part ending at the last "@".
func TestPlusTag(t *testing.T) {
	for _, c := range []struct{ addr, base, tag string }{
		{"me+shop@example.com", "me@example.com", "shop"},
		{"me@example.com", "me@example.com", ""},
		{"me+a+b@example.com", "me@example.com", "a+b"},             // the first "+"
		{"me+@example.com", "me@example.com", ""},                   // an empty tag
		{"+shop@example.com", "+shop@example.com", ""},              // no user: no tag
		{"me+shop", "me", "shop"},                                   // no domain (postmaster-like)
		{"me@sub+domain.example", "me@sub+domain.example", ""},      // "+" in the domain is not a tag
		{`"me+shop"@example.com`, "me@example.com", "shop"},         // quoted, same mailbox (RFC 5321 §2.4)
		{`"a b+tag"@example.com`, `"a b"@example.com`, "tag"},       // the user part quoted again
		{`"a@b+tag"@example.com`, `"a@b"@example.com`, "tag"},       // "@" in a quoted local part
		{`"a\"b+tag"@example.com`, `"a\"b"@example.com`, "tag"},     // quoted-pair
		{`"ab"@example.com`, `"ab"@example.com`, ""},                // quoted, no tag: as it is
		{`"+tag"@example.com`, `"+tag"@example.com`, ""},            // quoted, no user
		{`"bad\"@example.com`, `"bad\"@example.com`, ""},            // lone backslash: as it is
		{"jörg+news@bücher.example", "jörg@bücher.example", "news"}, // RFC 6531
		{"me+tag@a@b", "me@b", "tag@a"},                             // the last "@"
		{"", "", ""},
	} {
		base, tag := message.PlusTag(c.addr)
		if base != c.base || tag != c.tag {
			t.Errorf("PlusTag(%q) = %q, %q; want %q, %q", c.addr, base, tag, c.base, c.tag)
		}
	}
}

// FuzzPlusTag checks PlusTag against a simple reference for unquoted
// local parts, and, for all, that a found tag came from the address.
func FuzzPlusTag(f *testing.F) {
	for _, s := range []string{"me+shop@example.com", `"a b+c"@x`, "a@b", "+x@y", "a+b+c@d@e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		base, tag := message.PlusTag(addr)
		local, domain := addr, ""
		if at := strings.LastIndexByte(addr, '@'); at >= 0 {
			local, domain = addr[:at], addr[at:]
		}
		if !strings.HasPrefix(local, `"`) {
			user, wantTag, found := strings.Cut(local, "+")
			wantBase := addr
			if !found || user == "" {
				wantTag = ""
			} else {
				wantBase = user + domain
			}
			if base != wantBase || tag != wantTag {
				t.Fatalf("PlusTag(%q) = %q, %q; want %q, %q", addr, base, tag, wantBase, wantTag)
			}
			return
		}
		if tag != "" && !strings.Contains(addr, tag) && !strings.Contains(addr, `\`) {
			t.Fatalf("PlusTag(%q) = %q, %q: a tag not in the address", addr, base, tag)
		}
		if !strings.HasSuffix(base, domain) {
			t.Fatalf("PlusTag(%q) = %q: domain %q lost", addr, base, domain)
		}
	})
}
