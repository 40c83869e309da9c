package smtpd

import (
	"context"
	"fmt"
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

// asciiDomain returns a domain in the form Domains compares: ToASCII's,
// without a final dot, and false for a name that does not convert or has
// an empty label.
func asciiDomain(name string) (string, bool) {
	name = strings.TrimSuffix(name, ".")
	a, err := ToASCII(name)
	if err != nil || strings.HasSuffix(name, ".") {
		return "", false
	}
	a = strings.TrimSuffix(a, ".") // a final full-stop of another script
	if a == "" {
		return "", false
	}
	for label := range strings.SplitSeq(a, ".") {
		if label == "" {
			return "", false
		}
	}
	return a, true
}

// ToASCII returns a domain name in the form mail software compares and
// looks up (RFC 5890 §2.3.2.1, RFC 8616): its A-labels by IDNA's lookup
// rules (the UTS #46 mapping of golang.org/x/net/idna.Lookup), with ASCII
// letters in lower case. "Bücher.example" and "xn--bcher-KVA.example" are
// "xn--bcher-kva.example"; look-alikes that UTS #46 folds (full-width
// letters, U+212A KELVIN SIGN, U+2174 SMALL ROMAN NUMERAL FIVE) are the
// ASCII name they fold to. Only ASCII letters are lower-cased by hand:
// strings.ToLower would fold U+212A into "k" in a name IDNA never saw.
//
// A name in ASCII without an "xn--" label is only lower-cased: IDNA would
// change nothing else in it, and its rules for hyphens and underscores
// would refuse names that mail uses ("_dmarc", "ab--cd"). A final dot, or
// a full stop that maps to one, is kept. ToASCII fails for a name that is
// not UTF-8 (IDNA would take each bad byte for U+FFFD and convert that)
// and for one IDNA refuses: an invalid A-label such as "xn--zz",
// disallowed code points, a label that breaks the bidi rule of RFC 5893.
// It does not check the length of the name or its labels.
func ToASCII(name string) (string, error) {
	if isPlainASCII(name) {
		return asciiLower(name), nil
	}
	if !utf8.ValidString(name) {
		return "", fmt.Errorf("smtpd: domain %q is not UTF-8", cut(name))
	}
	a, err := idna.Lookup.ToASCII(name)
	if err != nil {
		return "", fmt.Errorf("smtpd: domain %q does not convert to A-labels: %w", cut(name), err)
	}
	return asciiLower(a), nil
}

// cut shortens a name quoted in an error: a client chooses it.
func cut(s string) string {
	if len(s) > 100 {
		return s[:100] + "..."
	}
	return s
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
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
