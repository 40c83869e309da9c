package mtasts_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/ownmx/ownmx/mtasts"
)

// RFC 8461 §4.1: which MX host names a pattern allows.
func TestMatch(t *testing.T) {
	tests := []struct {
		pattern string
		host    string
		want    bool
	}{
		// Whole names.
		{"mail.example.com", "mail.example.com", true},
		{"mail.example.com", "mail.example.org", false},
		{"mail.example.com", "example.com", false},
		{"example.com", "mail.example.com", false},
		{"example.com", "evilexample.com", false},
		{"example.com", "example.com.evil", false},
		{"localhost", "localhost", true},

		// ASCII case (RFC 4343) and a final dot, on either side.
		{"mail.example.com", "MAIL.Example.COM", true},
		{"MAIL.EXAMPLE.COM", "mail.example.com", true},
		{"mail.example.com", "mail.example.com.", true},
		{"mail.example.com.", "mail.example.com", true},
		{"mail.example.com.", "MAIL.EXAMPLE.COM.", true},
		{"mail.example.com", "mail.example.com..", false},
		{"mail.example.com..", "mail.example.com", false},

		// Unicode case and width do not fold: only ASCII does.
		{"ka.example", "\u212aa.example", false},             // KELVIN SIGN lowers to k
		{"mail.example.com", "ma\u0131l.example.com", false}, // dotless i uppers to I
		{"mail.example.com", "MA\u0130L.example.com", false}, // dotted I
		{"mx.example.net", "\uff4dx.example.net", false},     // fullwidth m
		{"mx.example.net", "mx\u3002example.net", false},     // ideographic full stop
		{"*.example.net", "mx\uff0eexample.net", false},      // fullwidth full stop
		{"ss.example", "\u00df.example", false},              // sharp s

		// The wildcard stands for exactly one label, the leftmost.
		{"*.example.net", "mx.example.net", true},
		{"*.example.net", "MX.EXAMPLE.NET.", true},
		{"*.EXAMPLE.NET.", "mx.example.net", true},
		{"*.example.net", "example.net", false},
		{"*.example.net", "a.mx.example.net", false},
		{"*.example.net", "a.b.c.example.net", false},
		{"*.example.net", "mx.example.net.evil", false},
		{"*.example.net", "mx.example.netx", false},
		{"*.example.net", "mxexample.net", false},
		{"*.example.net", "mx.xexample.net", false},
		{"*.mx.example.net", "mx.example.net", false},
		{"*.net", "example.net", true},
		{"*.example.net", "*.example.net", false}, // "*" is not a host's label
		{"mx.*.net", "mx.example.net", false},
		{"*mx.example.net", "amx.example.net", false},
		{"m*.example.net", "mx.example.net", false},
		{"**.example.net", "mx.example.net", false},
		{"*.*.net", "mx.example.net", false},

		// Empty labels and patterns of nothing.
		{"*.example.net", ".example.net", false},
		{"*.example.net", "mx..example.net", false},
		{"*.", "a.", false},
		{"*.", "a", false},
		{"*.", "a..", false},
		{"*.", ".", false},
		{"*", "a", false},
		{"*", "*", false},
		{"", "", false},
		{"", ".", false},
		{".", ".", false},
		{"a..b", "a..b", false},
		{".a", ".a", false},
		{"*..a", "x..a", false},
		{"*.a", "", false},

		// Other characters that are not in host names.
		{"mx_1.example.net", "mx_1.example.net", false},
		{"*.example.net", "mx_1.example.net", false},
		{"*.example.net", "mx 1.example.net", false},
		{"-mx.example.net", "-mx.example.net", false},
		{"*.example.net", "-.example.net", false},
		{"mx.example.net", "mx.example.net\x00", false},

		// IDN: patterns are A-labels (RFC 8461 §3.2), and so are hosts from
		// DNS; a U-label on either side matches nothing.
		{"xn--bcher-kva.example", "xn--bcher-kva.example", true},
		{"xn--bcher-kva.example", "XN--BCHER-KVA.EXAMPLE", true},
		{"*.xn--bcher-kva.example", "mx.xn--bcher-kva.example", true},
		{"*.example", "xn--bcher-kva.example", true},
		{"xn--bcher-kva.example", "bücher.example", false},
		{"bücher.example", "bücher.example", false},
		{"bücher.example", "xn--bcher-kva.example", false},
		{"*.bücher.example", "mx.bücher.example", false},

		// Lengths: labels up to 63, names up to 253.
		{strings.Repeat("a", 63) + ".example", strings.Repeat("A", 63) + ".example", true},
		{strings.Repeat("a", 64) + ".example", strings.Repeat("a", 64) + ".example", false},
		{"*.example", strings.Repeat("a", 64) + ".example", false},
		{name253, name253, true},
		{name253 + "b", name253 + "b", false},
	}
	for _, tt := range tests {
		p := &mtasts.Policy{Mode: mtasts.Enforce, MX: []string{tt.pattern}}
		if got := p.Match(tt.host); got != tt.want {
			t.Errorf("pattern %q, Match(%q) = %v, want %v", tt.pattern, tt.host, got, tt.want)
		}
		if ref := referenceMatch(tt.pattern, tt.host); ref != tt.want {
			t.Errorf("pattern %q, reference match of %q = %v, want %v", tt.pattern, tt.host, ref, tt.want)
		}
	}
}

// A policy matches a host when any of its patterns does.
func TestMatchAnyPattern(t *testing.T) {
	p := &mtasts.Policy{MX: []string{"*.", "mx1.example.com", "*.example.net"}}
	for host, want := range map[string]bool{
		"mx1.example.com": true, "mx.example.net": true, "mx2.example.com": false, "a.": false,
	} {
		if got := p.Match(host); got != want {
			t.Errorf("Match(%q) = %v, want %v", host, got, want)
		}
	}
	if (&mtasts.Policy{}).Match("mx.example.com") {
		t.Error("a policy without patterns matched a host")
	}
}

// name253 is a host name of 253 octets, the longest there is.
var name253 = strings.Repeat(strings.Repeat("a", 63)+".", 3) + strings.Repeat("b", 61)

// labelRE is a label of RFC 5321 §4.1.2, in lower case.
var labelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// referenceMatch is RFC 8461 §4.1 written plainly: both names split into
// labels after ASCII lower-casing and dropping one final dot, every label
// valid and the name at most 253 octets; a "*" first label of the pattern
// stands for any one label of the host.
func referenceMatch(pattern, host string) bool {
	labels := func(name string, wildcard bool) []string {
		name = strings.TrimSuffix(name, ".")
		if len(name) > 253 || strings.ContainsFunc(name, func(r rune) bool { return r >= 0x80 }) {
			return nil
		}
		l := strings.Split(strings.ToLower(name), ".")
		for i, label := range l {
			if !labelRE.MatchString(label) && !(wildcard && i == 0 && label == "*" && len(l) > 1) {
				return nil
			}
		}
		return l
	}
	h, p := labels(host, false), labels(pattern, true)
	if h == nil || p == nil || len(h) != len(p) {
		return false
	}
	if p[0] == "*" {
		p, h = p[1:], h[1:]
	}
	return fmt.Sprint(p) == fmt.Sprint(h)
}

// Match agrees with the reference on any pattern and host.
func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"*.example.net", "mx.example.net"}, {"mail.example.com", "MAIL.example.com."},
		{"*.", "a.."}, {"xn--bcher-kva.example", "bücher.example"}, {"ka.example", "\u212aa.example"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, host string) {
		p := &mtasts.Policy{MX: []string{pattern}}
		if got, want := p.Match(host), referenceMatch(pattern, host); got != want {
			t.Fatalf("pattern %q, Match(%q) = %v, reference says %v", pattern, host, got, want)
		}
	})
}
