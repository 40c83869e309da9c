package smtpd

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestParseMail groups address cases under the RFC 5321 section they test.
func TestParseMail(t *testing.T) {
	for _, tc := range []struct {
		section, arg, from string
		code               int // 0: accepted
	}{
		{"4.1.2 Path", "FROM:<alice@example.org>", "alice@example.org", 0},
		{"4.1.2 Path", "from:<alice@example.org>", "alice@example.org", 0},
		{"4.1.2 Path", "FROM: <alice@example.org>", "alice@example.org", 0},
		{"4.1.2 Path", "FROM:alice@example.org", "", 501},
		{"4.1.2 Path", "FROM:<alice@example.org", "", 501},
		{"4.1.2 Reverse-path", "FROM:<>", "", 0},
		{"4.1.2 Local-part", `FROM:<"a@b"@example.org>`, `"a@b"@example.org`, 0},
		{"4.1.2 Local-part", `FROM:<"a b"@example.org>`, `"a b"@example.org`, 0},
		{"4.1.2 Local-part", `FROM:<"a\"b"@example.org>`, `"a\"b"@example.org`, 0},
		{"4.1.2 Local-part", `FROM:<"a"b"@example.org>`, "", 501},
		{"4.1.2 Local-part", "FROM:<a..b@example.org>", "", 501},
		{"4.1.2 Local-part", "FROM:<a(b)@example.org>", "", 501},
		{"4.1.2 Local-part", "FROM:<a>", "", 501},
		{"4.1.2 Domain", "FROM:<a@-x.org>", "", 501},
		{"4.1.2 Domain", "FROM:<a@x_y.org>", "", 501},
		{"4.1.2 Domain", "FROM:<a@[192.0.2.1]>", "a@[192.0.2.1]", 0},
		{"4.1.2 Domain", "FROM:<a@[IPv6:2001:db8::1]>", "a@[IPv6:2001:db8::1]", 0},
		{"4.1.2 Domain", "FROM:<a@[tag:stuff]>", "", 501},
		{"4.1.2 A-d-l", "FROM:<@hop.example,@two.example:a@example.org>", "a@example.org", 0},
		{"4.1.2 A-d-l", "FROM:<@hop..example:a@example.org>", "", 501},
		{"4.5.3.1.1 local part length", "FROM:<" + strings.Repeat("a", 65) + "@example.org>", "", 501},
		{"4.5.3.1.3 path length", "FROM:<a@" + strings.Repeat("b.", 130) + "org>", "", 501},
		{"RFC 1870 SIZE", "FROM:<a@example.org> SIZE=1000", "a@example.org", 0},
		{"RFC 1870 SIZE", "FROM:<a@example.org> SIZE=-1", "", 501},
		{"RFC 6152 BODY", "FROM:<a@example.org> BODY=8bitmime", "a@example.org", 0},
		{"RFC 6152 BODY", "FROM:<a@example.org> BODY=BINARYMIME", "", 501},
		{"RFC 6531 SMTPUTF8", "FROM:<jörg@bücher.example> SMTPUTF8", "jörg@bücher.example", 0},
		{"RFC 6531 SMTPUTF8", "FROM:<jörg@example.org>", "", 553},
		{"4.1.1.11 parameters", "FROM:<a@example.org> X-UNKNOWN=1", "", 555},
		{"4.1.1.11 parameters", "FROM:<a@example.org>SIZE=1", "", 501},
	} {
		t.Run(tc.section+"/"+tc.arg, func(t *testing.T) {
			m, e := parseMail(tc.arg)
			code := 0
			if e != nil {
				code = e.Code
			}
			if code != tc.code || code == 0 && m.from != tc.from {
				t.Errorf("parseMail(%q) = %q, %v; want %q, code %d", tc.arg, m.from, e, tc.from, tc.code)
			}
		})
	}
}

func TestParseHelo(t *testing.T) {
	for arg, ok := range map[string]bool{
		"mail.example.org": true, "localhost": true, "host_1.lan": true,
		"[192.0.2.1]": true, "[IPv6:::1]": true, "[::1]": false,
		"": false, "a b": false, "a..b": false, "-a.b": false, "a-.b": false,
		"ä.example": false, strings.Repeat("a", 64) + ".org": false,
	} {
		if _, err := parseHelo(arg); (err == nil) != ok {
			t.Errorf("parseHelo(%q) = %v, want ok=%v", arg, err, ok)
		}
	}
}

// checkParsedAddress states what every address the parser lets through
// satisfies, whatever the input.
func checkParsedAddress(t *testing.T, addr string, eightBit bool) {
	t.Helper()
	if len(addr) > maxPath || !utf8.ValidString(addr) {
		t.Fatalf("address %q too long or not UTF-8", addr)
	}
	for _, r := range addr {
		if r < 0x20 || r == 0x7f || r >= 0x80 && !eightBit {
			t.Fatalf("address %q holds %U", addr, r)
		}
	}
	local, domain, err := splitMailbox(addr)
	if err != nil {
		t.Fatalf("address %q does not split: %v", addr, err)
	}
	if l, d, _ := SplitAddress(addr); l != local || d != domain {
		t.Fatalf("SplitAddress(%q) = %q, %q; the parser split at %q, %q", addr, l, d, local, domain)
	}
	if err := checkLocalPart(local, eightBit); err != nil {
		t.Fatalf("local part of %q: %v", addr, err)
	}
	if strings.HasPrefix(domain, "[") {
		if _, err := parseAddressLiteral(domain); err != nil {
			t.Fatalf("domain of %q: %v", addr, err)
		}
	} else if err := checkDomain(domain, eightBit, false); err != nil {
		t.Fatalf("domain of %q: %v", addr, err)
	}
}

func FuzzParseMail(f *testing.F) {
	for _, s := range []string{
		"FROM:<alice@example.org>", "FROM:<>", `FROM:<"a@b"@example.org> SIZE=10`,
		"FROM:<@a,@b:c@d.example>", "FROM:<jörg@bücher.example> SMTPUTF8",
		"FROM:<a@[IPv6:::1]> BODY=7BIT", `FROM:<"\\"@x>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		m, e := parseMail(arg)
		if e != nil {
			if e.Code < 500 || e.Code > 555 {
				t.Fatalf("parseMail(%q) refused with %d", arg, e.Code)
			}
			return
		}
		if m.from != "" {
			checkParsedAddress(t, m.from, m.smtputf8)
		}
	})
}

func FuzzParseRcpt(f *testing.F) {
	for _, s := range []string{
		"TO:<bob@example.com>", "TO:<Postmaster>", `TO:<"x@example.com"@other.example>`,
		"TO:<böb@example.com>", "TO:<>",
	} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, arg string, eightBit bool) {
		to, e := parseRcpt(arg, eightBit)
		if e != nil || to == "postmaster" {
			return
		}
		checkParsedAddress(t, to, eightBit)
	})
}
