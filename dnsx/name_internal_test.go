package dnsx

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// validNameReference says whether s, a name in presentation form, is a
// domain name that fits in a query, straight from RFC 1035: "\DDD" and
// "\X" stand for one octet (§5.1), an unescaped dot ends a label, a final
// dot is optional, "." alone is the root, labels are 1 to 63 octets
// (§2.3.4) and the name with its length octets and root label at most 255
// octets (§3.1).
func validNameReference(s string) bool {
	if s == "." {
		return true
	}
	var labels []int
	cur := 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]):
			cur++
			i += 3
		case s[i] == '\\' && i+1 < len(s):
			cur++
			i++
		case s[i] == '\\':
			return false // nothing to escape
		case s[i] == '.':
			labels = append(labels, cur)
			cur = 0
		default:
			cur++
		}
	}
	if cur > 0 || len(labels) == 0 {
		labels = append(labels, cur) // no final dot
	}
	wire := 1
	for _, l := range labels {
		if l < 1 || l > 63 {
			return false
		}
		wire += 1 + l
	}
	return wire <= maxNameOctets
}

// canonical accepts the names RFC 1035 allows, but for those miekg/dns
// cannot send; it lowers only ASCII letters; what it accepts can be sent in
// a query.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{
		"", ".", "..", "example.com", "Example.COM.", "a..b", ".a", "a.", "a\\", `a\.b`, `\065.b`,
		`a\\.b`, `\1a.b`, "\xf8\x92.example", strings.Repeat("a", 63) + ".b", strings.Repeat("a", 64),
		strings.Repeat("abcdefghi.", 25) + "abc", strings.Repeat("abcdefghi.", 25) + "abcd",
		// miekg/dns's IsFqdn miscounts the backslashes after a non-ASCII
		// letter: the first two it would take for the root.
		"о\\", "ѽ\\.", "\u0087\\\\",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fq, ok := canonical(s)
		valid := validNameReference(s)
		if ok && !valid {
			t.Fatalf("canonical(%q) accepts a name RFC 1035 does not allow", s)
		}
		if !ok && valid {
			// Only a name miekg/dns refuses to pack may be refused.
			fq := s
			if !endsInDot(fq) {
				fq += "."
			}
			m := new(dns.Msg)
			m.SetQuestion(lowerASCII(fq), dns.TypeTXT)
			if _, err := m.Pack(); err == nil {
				t.Fatalf("canonical(%q) refuses a valid name that packs", s)
			}
			return
		}
		if !ok {
			return
		}
		if fq != lowerASCII(s) && fq != lowerASCII(s+".") {
			t.Fatalf("canonical(%q) = %q, want it with ASCII in lower case and a final dot", s, fq)
		}
		m := new(dns.Msg)
		m.SetQuestion(fq, dns.TypeTXT)
		if _, err := m.Pack(); err != nil {
			t.Fatalf("canonical(%q) = %q, which does not pack: %v", s, fq, err)
		}
	})
}

// The question of a reply must name what was asked: the same bytes but for
// the case of ASCII letters (RFC 4343 §3), however they are escaped.
func TestSameName(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		same bool
	}{
		{"example.com.", "EXAMPLE.com.", true},
		{`a\032b.example.`, "a b.example.", true},
		{`\065.example.`, "a.example.", true},
		{"example.com.", "example.org.", false},
		{"\x80.example.", "\x81.example.", false}, // not UTF-8: two bytes
		{"k.example.", "\u212a.example.", false},  // KELVIN SIGN folds to k
		{"stra\u00dfe.example.", "STRASSE.example.", false},
	} {
		if got := sameName(tt.a, tt.b); got != tt.same {
			t.Errorf("sameName(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.same)
		}
	}
}
