package srs

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/ownmx/ownmx/smtpd"
)

// splitAddress splits a Mailbox of RFC 5321 §4.1.2 (with the UTF-8 of RFC
// 6531) into its local part, unquoted, and its domain.
func splitAddress(addr string) (local, domain string, err error) {
	if !utf8.ValidString(addr) {
		return "", "", errors.New("not UTF-8")
	}
	if strings.HasPrefix(addr, `"`) {
		var b strings.Builder
		i := 1
		for ; i < len(addr) && addr[i] != '"'; i++ {
			c := addr[i]
			if c == '\\' {
				i++
				if i == len(addr) || addr[i] < 32 || addr[i] > 126 {
					return "", "", errors.New("bad quoted pair in the local part")
				}
				c = addr[i]
			} else if c < 32 || c == 127 {
				return "", "", errors.New("control character in the local part")
			}
			b.WriteByte(c)
		}
		if i+1 >= len(addr) || addr[i+1] != '@' {
			return "", "", errors.New("no @ after the quoted local part")
		}
		local, domain = b.String(), addr[i+2:]
		if local == "" {
			return "", "", errors.New("empty local part")
		}
	} else {
		at := strings.LastIndexByte(addr, '@')
		if at < 0 {
			return "", "", errors.New("no @domain")
		}
		local, domain = addr[:at], addr[at+1:]
		if !isDotString(local) {
			return "", "", errors.New("local part is neither a dot-string nor a quoted string")
		}
	}
	if domain == "" {
		return "", "", errors.New("empty domain")
	}
	if strings.IndexByte(domain, '@') >= 0 {
		return "", "", errors.New("@ in the domain")
	}
	return local, domain, nil
}

// isDotString reports whether s is a Dot-string of RFC 5321 §4.1.2 whose
// atoms may hold UTF-8 (RFC 6531 §3.3).
func isDotString(s string) bool {
	if s == "" {
		return false
	}
	for atom := range strings.SplitSeq(s, ".") {
		if atom == "" {
			return false
		}
		for i := 0; i < len(atom); i++ {
			if c := atom[i]; c < 0x80 && !isAtext(c) {
				return false
			}
		}
	}
	return true
}

// isAtext reports whether c is an atext character of RFC 5322 §3.2.3.
func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// quoteLocal returns local as a local part: as it is when it is a
// dot-string, else a quoted string with " and \ escaped.
func quoteLocal(local string) string {
	if isDotString(local) {
		return local
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(local); i++ {
		if c := local[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(local[i])
	}
	b.WriteByte('"')
	return b.String()
}

// embeddedDomain returns domain as an SRS address carries it: as given when
// it is ASCII, as libsrs2 does, and in A-labels when it is not.
func embeddedDomain(domain string) (string, error) {
	for i := 0; i < len(domain); i++ {
		if domain[i] >= 0x80 {
			a, err := smtpd.ToASCII(domain)
			if err != nil {
				return "", err
			}
			domain = a
			break
		}
	}
	if !isHost(domain) {
		return "", errors.New("domain " + strings.ToValidUTF8(domain, "?") + " has a character no domain has")
	}
	return domain, nil
}

// isHost reports whether s can be the domain of an SRS address: not empty,
// printable ASCII, and none of the characters that would make the address
// parse otherwise (=, @, " and \). Address literals ([192.0.2.1]) pass.
func isHost(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 127 || strings.IndexByte(`=@"\`, c) >= 0 {
			return false
		}
	}
	return s != ""
}

// srsTag returns "SRS0" or "SRS1" when local begins with one of them, in any
// case, and a separator libsrs2 accepts, with what follows the separator;
// else "".
func srsTag(local string) (tag, rest string) {
	if len(local) < 5 || strings.IndexByte("=+-", local[4]) < 0 {
		return "", ""
	}
	switch {
	case strings.EqualFold(local[:4], "SRS0"):
		return "SRS0", local[5:]
	case strings.EqualFold(local[:4], "SRS1"):
		return "SRS1", local[5:]
	}
	return "", ""
}

// splitSRS0 splits what follows "SRS0=" into hash, timestamp, domain and
// local part, each present.
func splitSRS0(rest string) (hash, stamp, host, user string, ok bool) {
	hash, rest, ok1 := strings.Cut(rest, "=")
	stamp, rest, ok2 := strings.Cut(rest, "=")
	host, user, ok3 := strings.Cut(rest, "=")
	ok = ok1 && ok2 && ok3 && hash != "" && stamp != "" && host != "" && user != ""
	return hash, stamp, host, user, ok
}

// split3 splits s at its first two "=": for what follows "SRS1=", the hash,
// the first forwarder and the rest of its SRS0 address. Parts that are not
// there are "".
func split3(s string) (a, b, c string) {
	a, s, _ = strings.Cut(s, "=")
	b, c, _ = strings.Cut(s, "=")
	return a, b, c
}
