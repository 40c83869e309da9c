package send

import (
	"strings"
	"testing"
	unicodeutf8 "unicode/utf8"
)

// FuzzMailbox: whatever the address, one that is accepted can be written
// in MAIL FROM or RCPT TO as it is returned (no control characters, no
// angle brackets), its domain can be looked up, and it asks for SMTPUTF8
// exactly when it is not ASCII.
func FuzzMailbox(f *testing.F) {
	for _, s := range []string{
		"bob@example.test", "jürgen@bücher.test", "bob@Bücher.TEST", `"a b"@example.test`, `"a@b"@example.test`,
		"bob@[127.0.0.1]", "bob@example..test", "bob@xn--zz.test", "bob@example.test.", "@example.test", "bob@",
		"bob@example.test\r\nRCPT TO:<x@y>", "bob@exa\x00mple.test", "bob@" + strings.Repeat("a", 64) + ".test",
		"bob@ｅｘａｍｐｌｅ.test", "bob@\u212aelvin.test", "\xff@example.test",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		send, utf8, domain, problem := mailbox(addr)
		if problem != "" {
			return
		}
		if strings.ContainsAny(send, "<>\r\n\x00") || strings.ContainsFunc(send, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Errorf("%q: sent as %q", addr, send)
		}
		if !isDomainName(domain) || !isASCII(domain) || domain != strings.ToLower(domain) {
			t.Errorf("%q: domain %q", addr, domain)
		}
		if utf8 && !unicodeutf8.ValidString(send) {
			t.Errorf("%q: sent as %q, not UTF-8", addr, send)
		}
		if utf8 != !isASCII(send) {
			t.Errorf("%q: sent as %q with SMTPUTF8 %v", addr, send, utf8)
		}
		if !strings.Contains(send, "@") {
			t.Errorf("%q: sent as %q", addr, send)
		}
	})
}
