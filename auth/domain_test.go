package auth

import (
	"errors"
	"strings"
	"testing"
)

// TestASCIIDomain checks the one form in which auth looks up and compares
// every domain: A-labels by UTS #46 lookup rules, ASCII lower case, no
// final dot (RFC 8616 §3, §4).
func TestASCIIDomain(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	name253 := strings.Repeat(label63+".", 3) + strings.Repeat("b", 61) // 3*64 + 61 = 253
	sections := []struct {
		section string
		cases   []struct{ in, want string } // want "" means refused
	}{
		{"RFC 1035 §2.3.3 ASCII case and the final dot", []struct{ in, want string }{
			{"example.com", "example.com"},
			{"Example.COM", "example.com"},
			{"example.com.", "example.com"},
			{"EXAMPLE.COM.", "example.com"},
			{"a_b.example", "a_b.example"},       // RFC 7208 §4.3 allows underscores
			{"_dmarc.example", "_dmarc.example"}, // which STD3 alone would refuse
			{"ab--cd.example", "ab--cd.example"}, // and UTS #46 CheckHyphens
			{"example.com..", ""},
			{"a..example", ""},
			{".example", ""},
			{"", ""},
			{".", ""},
			{"example", ""},
			{"localhost.", ""},
			{"a b.example", ""},
			{"[192.0.2.1]", ""},
			{"victim.example\x00", ""},
			{"ceo@victim.example", ""},
		}},
		{"RFC 1035 §2.3.4 lengths", []struct{ in, want string }{
			{label63 + ".example", label63 + ".example"},
			{label63 + "a.example", ""},
			{name253, name253},
			{name253 + "b", ""},
			{name253 + ".", name253},
			{strings.Repeat("ü", 60) + ".example", ""}, // 60 letters, but over 63 octets in A-labels
		}},
		{"RFC 5890 §2.3.2.1 U-labels to A-labels", []struct{ in, want string }{
			{"bücher.example", "xn--bcher-kva.example"},
			{"Bücher.example.", "xn--bcher-kva.example"},
			{"BÜCHER.EXAMPLE", "xn--bcher-kva.example"},
			{"xn--bcher-kva.example", "xn--bcher-kva.example"},
			{"XN--BCHER-KVA.EXAMPLE", "xn--bcher-kva.example"},
			{"Xn--Bcher-Kva.example.", "xn--bcher-kva.example"},
			{"mail.bücher.example", "mail.xn--bcher-kva.example"},
			{"faß.example", "xn--fa-hia.example"},            // nontransitional: not "fass"
			{"vıctim.example", "xn--vctim-n4a.example"},      // dotless i is not i
			{"victim.exampl\u0435", "victim.xn--exampl-8of"}, // Cyrillic e is not e
			{"\u05D0\u05D1.example", "xn--4dbc.example"},     // right-to-left alone
		}},
		{"UTS #46 §4 mapping: look-alikes that fold to ASCII", []struct{ in, want string }{
			{"ｖｉｃｔｉｍ.example", "victim.example"},               // full-width
			{"ＶＩＣＴＩＭ．ＥＸＡＭＰＬＥ", "victim.example"},               // full-width, full-width full stop
			{"victim。example", "victim.example"},               // ideographic full stop
			{"victim｡example", "victim.example"},               // halfwidth ideographic full stop
			{"victim。example。", "victim.example"},              // mapped final dot
			{"\u2174ictim.example", "victim.example"},          // SMALL ROMAN NUMERAL FIVE
			{"\u2164ictim.example", "victim.example"},          // ROMAN NUMERAL FIVE
			{"\u212Ax.example", "kx.example"},                  // KELVIN SIGN
			{"\u24E5ictim.example", "victim.example"},          // CIRCLED LATIN SMALL LETTER V
			{"\U0001D42Fictim.example", "victim.example"},      // MATHEMATICAL BOLD SMALL V
			{"vic\u00ADtim.example", "victim.example"},         // SOFT HYPHEN is ignored
			{"vic\u200Btim.example", "victim.example"},         // ZERO WIDTH SPACE is ignored
			{"\uFB01nance.example", "finance.example"},         // LATIN SMALL LIGATURE FI
			{"ｘｎ--bcher-kva.example", "xn--bcher-kva.example"}, // a full-width A-label
			{"１２３.example", "123.example"},
		}},
		{"RFC 5891 §5.4, RFC 5893: names that do not convert", []struct{ in, want string }{
			{"xn--zz.example", ""}, // invalid Punycode
			{"xn--a.example", ""},
			{"xn--.example", ""},
			{"XN--ZZ.example", ""},
			{"a\u05D0.example", ""},     // left-to-right and right-to-left in one label
			{"\u05D0a1.example", ""},    // right-to-left label with a Latin letter
			{"\u0301a.example", ""},     // starts with a combining mark
			{"a\u200Db.example", ""},    // ZERO WIDTH JOINER out of context
			{"victim\u2024example", ""}, // ONE DOT LEADER is not a dot
			{"bücher_x.example", ""},    // STD3 applies to names that convert
			{"b\xffcher.example", ""},   // not UTF-8
			{"bücher..example", ""},
			{"bücher.example..", ""},
		}},
	}
	for _, s := range sections {
		for _, tc := range s.cases {
			t.Run(s.section+"/"+tc.in, func(t *testing.T) {
				got, err := ASCIIDomain(tc.in)
				if tc.want == "" {
					if err == nil || !errors.Is(err, ErrInvalidDomain) {
						t.Errorf("ASCIIDomain(%q) = %q, %v; want an error wrapping ErrInvalidDomain", tc.in, got, err)
					}
					return
				}
				if err != nil || got != tc.want {
					t.Errorf("ASCIIDomain(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
				}
			})
		}
	}
}

// FuzzASCIIDomain checks ASCIIDomain against what it promises for any
// input: a fully qualified ASCII name in lower case that converts to
// itself, or an error.
func FuzzASCIIDomain(f *testing.F) {
	for _, s := range []string{"bücher.example", "ｖｉｃｔｉｍ.example", "\u212Ax.example", "xn--zz.example", "a_b.example.", "a\u05D0.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ASCIIDomain(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidDomain) {
				t.Fatalf("ASCIIDomain(%q) error %v does not wrap ErrInvalidDomain", in, err)
			}
			return
		}
		if !isDomainName(got) || got != strings.ToLower(got) {
			t.Fatalf("ASCIIDomain(%q) = %q, not a lower-case ASCII domain name", in, got)
		}
		if again, err := ASCIIDomain(got); err != nil || again != got {
			t.Fatalf("ASCIIDomain(%q) = %q, but ASCIIDomain(%q) = %q, %v", in, got, got, again, err)
		}
	})
}
