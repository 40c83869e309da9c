package route

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/ownmx/ownmx/internal/ascii"
	"github.com/ownmx/ownmx/smtpd"
)

// Delimiter separates a local part's base from its tag: me+shop is the
// mailbox me with the tag shop, as Postfix's recipient_delimiter "+".
const Delimiter = '+'

// ErrBadPattern is wrapped by every error about a pattern that Register
// refuses (and Handle panics with).
var ErrBadPattern = errors.New("route: bad pattern")

// canonical checks pattern and returns its canonical form, the key the Mux
// keeps it under: local part in ASCII lower case, domain in A-labels in
// ASCII lower case without a final dot (smtpd.ToASCII), "*" alone for
// every recipient. Two patterns with one canonical form are one pattern.
func canonical(pattern string) (string, error) {
	bad := func(why string) error {
		return fmt.Errorf("%w %q: %s", ErrBadPattern, cut(pattern), why)
	}
	switch {
	case pattern == "":
		return "", bad("empty")
	case pattern == "*":
		return "*", nil
	case !utf8.ValidString(pattern):
		return "", bad("not UTF-8")
	}
	at := strings.IndexByte(pattern, '@')
	switch {
	case at < 0:
		return "", bad(`no "@": write "me@example.com", "me@", "*@example.com" or "*"`)
	case strings.IndexByte(pattern[at+1:], '@') >= 0:
		return "", bad(`more than one "@" (quoted local parts are not supported)`)
	}
	local, domain := pattern[:at], pattern[at+1:]

	if domain != "" {
		d, err := patternDomain(domain)
		if err != nil {
			return "", bad(err.Error())
		}
		domain = d
	}

	switch {
	case local == "":
		return "", bad(`empty local part: write "*@domain" for every local part`)
	case local == "*" && domain == "":
		return "", bad(`"*@" names no domain: write "*" for every recipient`)
	case local == "*":
		return "*@" + domain, nil
	}
	local = ascii.Lower(local)
	if prefix, ok := strings.CutSuffix(local, "*"); ok && prefix != "" && !strings.HasSuffix(prefix, "+") {
		return prefixPattern(prefix, domain, bad)
	}
	base := local
	if strings.HasSuffix(local, "+*") {
		base = local[:len(local)-2]
		switch {
		case base == "":
			return "", bad(`"+*" needs a local part before it, as in "orders+*@"`)
		case strings.IndexByte(base, Delimiter) >= 0:
			return "", bad(`the local part before "+*" holds a "+": a tag starts at the first "+", so "a+b+*" could never match`)
		}
	}
	if strings.IndexByte(base, '*') >= 0 {
		return "", bad(`"*" may only be the whole pattern, the whole local part ("*@example.com"), follow the first "+" at the end of it ("orders+*@") or end a prefix ("srs0=*@")`)
	}
	if err := checkLocal(local); err != nil {
		return "", bad(err.Error())
	}
	return local + "@" + domain, nil
}

// prefixPattern checks a prefix pattern, prefix "*" "@" domain (prefix in
// ASCII lower case, domain canonical or ""), and returns its canonical form.
// The prefix holds no '*' and no Delimiter (a tag's wildcard is "base+*"),
// and must be the start of a Dot-string local part.
func prefixPattern(prefix, domain string, bad func(string) error) (string, error) {
	switch {
	case strings.IndexByte(prefix, '*') >= 0:
		return "", bad(`"*" may only end a prefix ("srs0=*@"), once`)
	case strings.IndexByte(prefix, Delimiter) >= 0:
		return "", bad(`a prefix holds a "+": write "orders+*@" for a tag's wildcard`)
	}
	// "x" stands for what follows the prefix: "bounces.*" is a prefix of
	// "bounces.x", "a..*" of nothing.
	if err := checkLocal(prefix + "x"); err != nil {
		return "", bad(err.Error())
	}
	return prefix + "*@" + domain, nil
}

// isPrefixPattern reports whether a canonical pattern is a prefix pattern,
// and returns its prefix and domain.
func isPrefixPattern(pattern string) (prefix, domain string, ok bool) {
	local, domain, found := strings.Cut(pattern, "@")
	if !found || len(local) < 2 || !strings.HasSuffix(local, "*") || strings.HasSuffix(local, "+*") {
		return "", "", false
	}
	return local[:len(local)-1], domain, true
}

// patternDomain returns the canonical form of a pattern's domain, or why it
// is not a domain name that mail can be addressed to (RFC 5321 §4.1.2:
// labels of letters, digits and hyphens, starting and ending with a letter
// or digit; after IDNA, RFC 5890).
func patternDomain(domain string) (string, error) {
	if strings.HasPrefix(domain, "[") {
		return "", errors.New("address literals are not supported")
	}
	a, err := smtpd.ToASCII(domain)
	if err != nil {
		return "", fmt.Errorf("invalid domain: %v", err)
	}
	a = strings.TrimSuffix(a, ".")
	if len(a) > 253 {
		return "", errors.New("invalid domain: longer than 253 octets")
	}
	for label := range strings.SplitSeq(a, ".") {
		switch {
		case label == "":
			return "", errors.New("invalid domain: empty label")
		case len(label) > 63:
			return "", fmt.Errorf("invalid domain: label %q longer than 63 octets", cut(label))
		case label[0] == '-' || label[len(label)-1] == '-':
			return "", fmt.Errorf("invalid domain: label %q starts or ends with '-'", label)
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !isLetDig(c) && c != '-' {
				return "", fmt.Errorf("invalid domain: label %q holds %q", label, c)
			}
		}
	}
	return a, nil
}

func isLetDig(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// checkLocal reports why local (with a final "+*" allowed) is not a
// Dot-string local part (RFC 5321 §4.1.2): atoms of atext (RFC 5322
// §3.2.3), or of UTF-8 beyond ASCII (RFC 6531 §3.3), joined by single dots,
// at most 64 octets (RFC 5321 §4.5.3.1.1).
func checkLocal(local string) error {
	text := strings.TrimSuffix(local, "+*")
	if len(local) > 64 {
		return errors.New("local part longer than 64 octets")
	}
	for atom := range strings.SplitSeq(text, ".") {
		if atom == "" {
			return errors.New(`local part starts or ends with ".", or holds ".."`)
		}
		for i := 0; i < len(atom); i++ {
			if c := atom[i]; c < 0x80 && !isAtext(c) {
				return fmt.Errorf("local part holds %q (quoted local parts are not supported)", c)
			}
		}
	}
	return nil
}

// isAtext reports whether c is an ASCII atext character (RFC 5322 §3.2.3).
func isAtext(c byte) bool {
	return isLetDig(c) || strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// candidates returns, most specific first, the canonical patterns that could
// match rcpt: the precedence of the package documentation. It returns nil
// for a recipient whose domain has no A-label form; a recipient without a
// domain ("<Postmaster>", RFC 5321 §4.5.1) gets only the patterns that name
// none.
func candidates(rcpt string) []string {
	local, domain, ok := smtpd.SplitAddress(rcpt)
	if !ok {
		local, domain = rcpt, ""
	} else {
		a, err := smtpd.ToASCII(domain)
		if err != nil {
			return nil
		}
		domain = strings.TrimSuffix(a, ".")
		if domain == "" {
			return nil
		}
	}
	local = ascii.Lower(local)
	base, tagged := local, false
	if i := strings.IndexByte(local, Delimiter); i > 0 {
		base, tagged = local[:i], true
	}
	keys := make([]string, 0, 10)
	if domain != "" {
		if tagged {
			keys = append(keys, local+"@"+domain, base+"+*@"+domain)
		}
		keys = append(keys, base+"@"+domain, prefixesAt+domain)
	}
	if tagged {
		keys = append(keys, local+"@", base+"+*@")
	}
	keys = append(keys, base+"@", prefixesAt)
	if domain != "" {
		keys = append(keys, "*@"+domain)
	}
	return append(keys, "*")
}

// prefixesAt, followed by a domain or nothing, is the candidate that stands
// for the prefix patterns of that domain, or of any domain: no pattern can
// hold its NUL.
const prefixesAt = "\x00@"

// cut shortens a string quoted in an error.
func cut(s string) string {
	if len(s) > 100 {
		return s[:100] + "..."
	}
	return s
}
