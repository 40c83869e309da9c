package auth

import (
	"errors"
	"strings"
	"testing"
)

// fromCase is a From header (one value per field) and what AuthorDomains
// makes of it.
type fromCase struct {
	from []string
	want string // the domains joined by spaces; "" when refused
	err  error  // for a refused header; each wraps ErrUnusableFrom
}

// goodFrom are From headers of one author that DMARC judges, by RFC 5322
// §3.4 and §3.6.2, and the domain it looks up.
var goodFrom = []fromCase{
	{from: []string{"alice@example.com"}, want: "example.com"},
	{from: []string{"Alice <alice@Example.COM>"}, want: "example.com"},
	{from: []string{"Alice<alice@example.com>"}, want: "example.com"},
	{from: []string{"<alice@example.com>"}, want: "example.com"},
	{from: []string{`"Smith, Alice" <alice@example.com>`}, want: "example.com"},
	{from: []string{"John Q. Public <alice@example.com>"}, want: "example.com"},
	{from: []string{"Alice (work) <alice@example.com> (sent by a robot)"}, want: "example.com"},
	{from: []string{"=?x-unknown?q?Alice?= <alice@example.com>"}, want: "example.com"},
	{from: []string{"=?utf-8?q?Al=C3=AFce?= <alice@example.com>"}, want: "example.com"},
	{from: []string{`"a@b"@example.com`}, want: "example.com"},
	{from: []string{`"q\"x" <alice@example.com>`}, want: "example.com"},
	{from: []string{"alice@example.com (comment)"}, want: "example.com"},
	{from: []string{"alice.smith@mail.example.com"}, want: "mail.example.com"},
	// RFC 6532 §3.2 UTF-8, and RFC 8616 §4: the domain in A-labels.
	{from: []string{"Jörg <jörg@bücher.example>"}, want: "xn--bcher-kva.example"},
	{from: []string{"ceo@BÜCHER.example"}, want: "xn--bcher-kva.example"},
	{from: []string{"ceo@XN--BCHER-KVA.example"}, want: "xn--bcher-kva.example"},
	{from: []string{"ceo@ｖｉｃｔｉｍ.example"}, want: "victim.example"},
	{from: []string{"ceo@\u2174ictim.example"}, want: "victim.example"},
	{from: []string{"ceo@\u212Ax.example"}, want: "kx.example"},
	{from: []string{"ceo@victim。example"}, want: "victim.example"},
	{from: []string{"CEO <ceo@ＶＩＣＴＩＭ．ＥＸＡＭＰＬＥ>"}, want: "victim.example"},
	// Several authors are returned; DMARC refuses them.
	{from: []string{"a@example.com, b@example.org"}, want: "example.com example.org"},
	{from: []string{"a@example.com", "b@example.org"}, want: "example.com example.org"},
	{from: []string{"A <a@example.com>,B <b@bücher.example>"}, want: "example.com xn--bcher-kva.example"},
}

// badFrom are From headers that DMARC cannot judge cleanly (RFC 5322
// §3.6.2, RFC 7489 §6.6.1): two readers could take a different author from
// each, or there is no domain to look up.
var badFrom = []fromCase{
	{from: nil, err: ErrNoFrom},
	{from: []string{""}, err: ErrFromInvalid},
	{from: []string{" "}, err: ErrFromInvalid},
	{from: []string{"", "ceo@victim.example"}, err: ErrFromInvalid}, // an empty From before a real one
	{from: []string{"alice"}, err: ErrFromInvalid},
	{from: []string{"alice@"}, err: ErrFromInvalid},
	{from: []string{"@victim.example"}, err: ErrFromInvalid},
	{from: []string{"<>"}, err: ErrFromInvalid},
	{from: []string{"<ceo>"}, err: ErrFromInvalid},
	{from: []string{"alice at example.com <<"}, err: ErrFromInvalid},
	// A final dot, or dots where a name cannot have them.
	{from: []string{"ceo@victim.example."}, err: ErrFromInvalid},
	{from: []string{"CEO <ceo@victim.example.>"}, err: ErrFromInvalid},
	{from: []string{"ceo@victim。example。"}, err: ErrFromInvalid},
	{from: []string{"ceo@victim..example"}, err: ErrFromInvalid},
	{from: []string{"ceo@.victim.example"}, err: ErrFromInvalid},
	{from: []string{".ceo@victim.example"}, err: ErrFromInvalid},
	{from: []string{"ceo.@victim.example"}, err: ErrFromInvalid},
	// Comments and white space inside an address (RFC 5322 §3.4.1 CFWS,
	// §4.4 obs-domain).
	{from: []string{"ceo@(x)victim.example"}, err: ErrFromInvalid},
	{from: []string{"ceo(x)@victim.example"}, err: ErrFromInvalid},
	{from: []string{"ceo @victim.example"}, err: ErrFromInvalid},
	{from: []string{"ceo@ victim.example"}, err: ErrFromInvalid},
	{from: []string{"ceo@victim .example"}, err: ErrFromInvalid},
	{from: []string{"ceo@victim. example"}, err: ErrFromInvalid},
	{from: []string{"victim .example"}, err: ErrFromInvalid},
	{from: []string{"ceo@victim(x).example"}, err: ErrFromInvalid},
	{from: []string{"< ceo@victim.example>"}, err: ErrFromInvalid},
	{from: []string{"<ceo@victim.example >"}, err: ErrFromInvalid},
	{from: []string{"ceo@victim.example (unclosed"}, err: ErrFromInvalid},
	// Routes (RFC 5322 §4.4 obs-route) and groups (§3.4, not in From).
	{from: []string{"<@a:ceo@victim.example>"}, err: ErrFromInvalid},
	{from: []string{"<@a,@b:ceo@victim.example>"}, err: ErrFromInvalid},
	{from: []string{"undisclosed-recipients:;"}, err: ErrFromInvalid},
	{from: []string{"Board: ceo@victim.example;"}, err: ErrFromInvalid},
	// Two addresses without a comma, or one hidden in the display name.
	{from: []string{"ceo@victim.example ceo@attacker.example"}, err: ErrFromInvalid},
	{from: []string{"ceo@victim.example <x@attacker.example>"}, err: ErrFromInvalid},
	{from: []string{"CEO <ceo@victim.example> <x@attacker.example>"}, err: ErrFromInvalid},
	{from: []string{"CEO <ceo@victim.example> x"}, err: ErrFromInvalid},
	{from: []string{"<ceo@victim.example>x@attacker.example"}, err: ErrFromInvalid},
	{from: []string{"ceo@victim.example@attacker.example"}, err: ErrFromInvalid},
	{from: []string{`"CEO <ceo@victim.example>`}, err: ErrFromInvalid},
	{from: []string{"<ceo@victim.example"}, err: ErrFromInvalid},
	{from: []string{"ceo@victim.example>"}, err: ErrFromInvalid},
	// Empty list elements (RFC 5322 §4.4 obs-mbox-list).
	{from: []string{"ceo@victim.example,"}, err: ErrFromInvalid},
	{from: []string{", ceo@victim.example"}, err: ErrFromInvalid},
	{from: []string{"ceo@victim.example,,x@attacker.example"}, err: ErrFromInvalid},
	{from: []string{","}, err: ErrFromInvalid},
	// Domains DMARC cannot look up.
	{from: []string{"alice@[192.0.2.1]"}, err: ErrFromNoDomain},
	{from: []string{"alice@localhost"}, err: ErrFromNoDomain},
	{from: []string{"ceo@xn--zz.example"}, err: ErrFromInvalid},
	{from: []string{"ceo@a\u05D0.example"}, err: ErrFromInvalid},
	{from: []string{"ceo@victim\u2024example"}, err: ErrFromInvalid},
	{from: []string{"ceo@" + strings.Repeat("a", 64) + ".example"}, err: ErrFromNoDomain},
	{from: []string{"ceo@exa mple.com"}, err: ErrFromInvalid},
	{from: []string{"Al\xe9 <ceo@victim.example>"}, err: ErrFromInvalid}, // not UTF-8: net/mail refuses it
}

// TestAuthorDomains runs AuthorDomains over the well-formed and the
// malformed From headers.
func TestAuthorDomains(t *testing.T) {
	for _, tc := range append(append([]fromCase(nil), goodFrom...), badFrom...) {
		got, err := AuthorDomains(tc.from)
		if tc.err != nil {
			if !errors.Is(err, tc.err) || !errors.Is(err, ErrUnusableFrom) || got != nil {
				t.Errorf("AuthorDomains(%q) = %q, %v; want %v (an ErrUnusableFrom)", tc.from, got, err, tc.err)
			}
			continue
		}
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("AuthorDomains(%q) = %q, %v; want %q", tc.from, got, err, tc.want)
		}
	}
}
