package smtpd

import (
	"context"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Domains is a RcptHandler that takes mail for a set of domains only: the
// server's relay protection. Make one with AcceptDomains.
type Domains struct {
	names map[string]bool
	next  RcptHandler
}

// AcceptDomains returns a RcptHandler that accepts recipients at the given
// domains and refuses every other recipient with 550 5.7.1, so the server
// never relays. By itself it accepts any local part; Then asks another
// handler about them.
//
// Domains are compared in their A-label form in ASCII lower case, without
// a final dot (RFC 5890 §2.3.2.1, IDNA's lookup rules of UTS #46): a
// recipient at "Bücher.example" is one at "xn--bcher-kva.example", and one
// at "Kx.example" written with U+212A KELVIN SIGN is one at "kx.example",
// the name the rest of the server sees. A recipient domain that does not
// convert (an invalid A-label such as "xn--zz", disallowed characters) is
// refused, and so is every recipient for a configured name that does not.
func AcceptDomains(domains ...string) *Domains {
	d := &Domains{names: make(map[string]bool, len(domains))}
	for _, name := range domains {
		if a, ok := asciiDomain(name); ok {
			d.names[a] = true
		}
	}
	return d
}

// Then returns a copy of d that, for a recipient at one of its domains,
// asks next whether the mailbox exists. postmaster, in any ASCII case, is
// accepted without asking (RFC 5321 §4.5.1 requires it), and so is
// "<Postmaster>" given without a domain.
func (d *Domains) Then(next RcptHandler) *Domains {
	return &Domains{names: d.names, next: next}
}

// Accepts reports whether domain is one of d's domains.
func (d *Domains) Accepts(domain string) bool {
	a, ok := asciiDomain(domain)
	return ok && d.names[a]
}

// Rcpt accepts or refuses one recipient.
func (d *Domains) Rcpt(ctx context.Context, env *Envelope, to string) error {
	if isPostmaster(to) {
		return nil
	}
	local, domain, ok := SplitAddress(to)
	if !ok || !d.Accepts(domain) {
		return ErrRelayDenied
	}
	if d.next == nil || isPostmaster(local) {
		return nil
	}
	return d.next.Rcpt(ctx, env, to)
}

// isPostmaster reports whether s is "postmaster" in any ASCII case. Only
// ASCII letters fold: strings.EqualFold would also take "poſtmaster" (with
// U+017F LATIN SMALL LETTER LONG S) for it.
func isPostmaster(s string) bool {
	const p = "postmaster"
	if len(s) != len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != p[i] {
			return false
		}
	}
	return true
}

// asciiDomain returns a domain's A-label form in ASCII lower case without
// a final dot, and false for a name that does not convert by IDNA's lookup
// rules. An ASCII name without an "xn--" label is only lower-cased: IDNA
// would change nothing in it but case, and its rules for hyphens and
// underscores would refuse names that mail uses.
func asciiDomain(name string) (string, bool) {
	name = strings.TrimSuffix(name, ".")
	if name == "" {
		return "", false
	}
	if !isPlainASCII(name) {
		if !utf8.ValidString(name) {
			return "", false // idna would convert each bad byte as U+FFFD
		}
		a, err := idna.Lookup.ToASCII(name)
		if err != nil {
			return "", false
		}
		name = strings.TrimSuffix(a, ".")
	}
	name = asciiLower(name)
	for label := range strings.SplitSeq(name, ".") {
		if label == "" {
			return "", false
		}
	}
	return name, true
}

// isPlainASCII reports whether name is ASCII and has no label that starts
// with the ACE prefix "xn--" in any case.
func isPlainASCII(name string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] >= 0x80 {
			return false
		}
	}
	for label := range strings.SplitSeq(name, ".") {
		if len(label) >= 4 && strings.EqualFold(label[:4], "xn--") {
			return false
		}
	}
	return true
}

// asciiLower lower-cases the ASCII letters of s and nothing else.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
