package dnsx

import (
	"strings"
	"testing"
)

// TXT text survives the escaping miekg/dns keeps it in: joinTXT undoes
// escapeTXT for any bytes, and joining several strings concatenates them.
func FuzzTXTEscape(f *testing.F) {
	for _, s := range []string{"", "v=spf1 -all", `say "hi"\`, "tab\there", "\x00\xff", `\065`, "é"} {
		f.Add(s, "tail")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if got := joinTXT([]string{escapeTXT(a)}); got != a {
			t.Fatalf("joinTXT(escapeTXT(%q)) = %q", a, got)
		}
		if got := joinTXT([]string{escapeTXT(a), escapeTXT(b)}); got != a+b {
			t.Fatalf("joined %q and %q into %q", a, b, got)
		}
	})
}

// The record parsers never panic, and what they accept has the basic
// shape they check for.
func FuzzParseRecords(f *testing.F) {
	for _, s := range []string{
		"v=spf1 mx -all",
		"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a:mx.example.com/24//64 include:_spf.example.net ~all",
		"v=spf1 redirect=_spf.example.com exp=explain.%{d}",
		"v=spf1 +all",
		"v=spf1 ?",
		"v=DMARC1; p=reject; sp=none; pct=50; adkim=s; aspf=r; rua=mailto:d@example.com",
		"v=DMARC1; p=maybe",
		"v=DKIM1; k=ed25519; p=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"v=DKIM1; k=rsa; p=",
		"k=rsa; p=MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAK",
		";;=;",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if isSPF(s) {
			rec, err := parseSPF(s)
			if err == nil && rec.lookups > len(strings.Fields(s)) {
				t.Fatalf("parseSPF(%q) counted %d lookups in fewer terms", s, rec.lookups)
			}
		}
		if policy, err := parseDMARC(s); err == nil && policy != "none" && policy != "quarantine" && policy != "reject" {
			t.Fatalf("parseDMARC(%q) accepted policy %q", s, policy)
		}
		if desc, err := parseDKIMKey(s); err == nil && desc == "" {
			t.Fatalf("parseDKIMKey(%q) accepted a key it cannot describe", s)
		}
	})
}
