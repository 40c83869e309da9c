package auth

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ownmx/ownmx/smtpd"
)

// ErrInvalidDomain is wrapped by the errors for a domain name that does not
// convert to A-labels or is not a fully qualified domain name.
var ErrInvalidDomain = errors.New("auth: invalid domain name")

// ASCIIDomain returns the form of a domain name that auth looks up and
// compares (RFC 8616 §3, §4): its A-labels by IDNA's lookup rules (UTS #46
// mapping, golang.org/x/net/idna.Lookup), in ASCII lower case, without a
// final dot. "Bücher.example.", "ｂüｃｈｅｒ.example" and
// "xn--bcher-kva.EXAMPLE" are all "xn--bcher-kva.example", and
// look-alikes that UTS #46 folds (full-width letters, U+2174 SMALL ROMAN
// NUMERAL FIVE, U+212A KELVIN SIGN) are the ASCII name they fold to.
//
// It fails, with an error wrapping ErrInvalidDomain, for a name that does
// not convert (an invalid A-label such as "xn--zz", disallowed code
// points, a label mixing right-to-left and left-to-right letters against
// RFC 5893), or that is not a fully qualified domain name once converted
// (fewer than two labels, an empty label, a label over 63 octets or a name
// over 253).
//
// A name in ASCII without an "xn--" label is only lower-cased and checked
// for its length and its letters, digits, hyphens and underscores: IDNA
// would change nothing in it but case, and its stricter rules for hyphens
// and underscores (UTS #46 CheckHyphens, STD3) would refuse host names
// that mail uses (RFC 7208 §4.3 allows underscores).
func ASCIIDomain(name string) (string, error) {
	a, err := toASCII(name)
	if err != nil {
		return "", err
	}
	a = strings.TrimSuffix(a, ".")
	if !isDomainName(a) {
		return "", fmt.Errorf("%w: %q is not a fully qualified domain name", ErrInvalidDomain, truncate(name, 100))
	}
	return a, nil
}

// toASCII converts name to A-labels in ASCII lower case (smtpd.ToASCII),
// keeping a final dot, which ASCIIDomain drops and an address's domain may
// not have.
func toASCII(name string) (string, error) {
	a, err := smtpd.ToASCII(name)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidDomain, err)
	}
	return a, nil
}

// asciiLower lower-cases the ASCII letters of s and nothing else: unlike
// strings.ToLower, it never folds a non-ASCII letter into ASCII.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// isDomainName reports whether s, in ASCII, looks like a fully qualified
// domain name: at least two labels, none empty or longer than 63 octets,
// 253 octets at most, made of letters, digits, hyphens and underscores
// (RFC 1035 §2.3.4, RFC 7208 §4.3). Internationalized names must be in
// their A-label form (ASCIIDomain).
func isDomainName(s string) bool {
	if len(s) == 0 || len(s) > 253 || !strings.Contains(s, ".") {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if len(label) == 0 || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			b := label[i]
			switch {
			case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9',
				b == '-', b == '_':
			default:
				return false
			}
		}
	}
	return true
}
