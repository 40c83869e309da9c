package mtasts

import (
	"strings"

	"github.com/ownmx/ownmx/internal/ascii"
	"golang.org/x/net/idna"
)

// hostName returns name in the form this package compares names in: ASCII
// lower case, without a final dot. It reports false when name is not a
// host name of RFC 5321 §4.1.2 (Domain): labels of 1 to 63 letters, digits
// and hyphens that neither start nor end with a hyphen, 253 octets at most
// in all. A-labels of internationalized names ("xn--...") are host names;
// U-labels are not, so that no Unicode case or width mapping can make two
// different names compare equal.
func hostName(name string) (string, bool) {
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > 253 {
		return "", false
	}
	for label := range strings.SplitSeq(name, ".") {
		if !validLabel(label) {
			return "", false
		}
	}
	return ascii.Lower(name), true
}

// validLabel reports whether label is a label of a host name: 1 to 63
// ASCII letters, digits and hyphens, with a letter or digit at each end.
func validLabel(label string) bool {
	if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
		return false
	}
	for i := 0; i < len(label); i++ {
		if !isLetDig(label[i]) && label[i] != '-' {
			return false
		}
	}
	return true
}

// isLetDig reports whether c is an ASCII letter or digit.
func isLetDig(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// policyDomain returns the name under which domain, a recipient domain,
// publishes its policy: its A-labels (RFC 5891 §5, through the Lookup
// profile of golang.org/x/net/idna, so that a domain of an SMTPUTF8
// address is found), in lower case, without a final dot. It reports false
// when domain is not a host name, as no such domain can publish a policy.
func policyDomain(domain string) (string, bool) {
	domain = strings.TrimSuffix(domain, ".")
	for i := 0; i < len(domain); i++ {
		if domain[i] >= 0x80 {
			ascii, err := idna.Lookup.ToASCII(domain)
			if err != nil {
				return "", false
			}
			domain = ascii
			break
		}
	}
	return hostName(domain)
}
