package smtpd

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits from RFC 5321 §4.5.3.1.
const (
	maxLocalPart = 64  // §4.5.3.1.1
	maxDomain    = 255 // §4.5.3.1.2
	maxPath      = 256 // §4.5.3.1.3
	maxLabel     = 63  // RFC 1035 §2.3.4
)

// A syntaxError says what is wrong with a command's argument; its text is
// safe to send to the client (it quotes no input).
type syntaxError string

func (e syntaxError) Error() string { return string(e) }

var errEightBit = errors.New("non-ASCII address without SMTPUTF8")

// splitCommand splits a command line (without its line ending) into an
// upper-case verb and its argument. RFC 5321 §4.1.1 separates them with one
// space; trailing white space is dropped, as many clients send it.
func splitCommand(line string) (verb, arg string) {
	line = strings.TrimRight(line, " \t")
	verb, arg, _ = strings.Cut(line, " ")
	return strings.ToUpper(verb), arg
}

// checkCommandLine refuses what no command may hold: NUL, CR and the other
// control characters (HT aside), and bytes of 8 bits that are not UTF-8.
func checkCommandLine(line string) error {
	for i := 0; i < len(line); i++ {
		b := line[i]
		if b < 0x20 && b != '\t' || b == 0x7f {
			return syntaxError("control character in command")
		}
	}
	if !utf8.ValidString(line) {
		return syntaxError("command is not valid UTF-8")
	}
	return nil
}

// parseHelo checks the argument of EHLO or HELO: a domain name or an
// address literal (RFC 5321 §4.1.1.1), ASCII only, with nothing after it.
// Underscores are allowed in names, as hosts on private networks send them.
func parseHelo(arg string) (string, error) {
	if arg == "" {
		return "", syntaxError("EHLO needs a domain name or address literal")
	}
	if strings.ContainsAny(arg, " \t") {
		return "", syntaxError("EHLO takes one domain name or address literal")
	}
	if strings.HasPrefix(arg, "[") {
		if _, err := parseAddressLiteral(arg); err != nil {
			return "", err
		}
		return arg, nil
	}
	if err := checkDomain(arg, false, true); err != nil {
		return "", err
	}
	return arg, nil
}

// parseAddressLiteral parses "[192.0.2.1]" or "[IPv6:2001:db8::1]"
// (RFC 5321 §4.1.3). General address literals are refused: no tag other than
// IPv6 is registered.
func parseAddressLiteral(s string) (netip.Addr, error) {
	if len(s) < 3 || s[0] != '[' || s[len(s)-1] != ']' {
		return netip.Addr{}, syntaxError("malformed address literal")
	}
	inner := s[1 : len(s)-1]
	if v6, ok := cutPrefixFold(inner, "IPv6:"); ok {
		a, err := netip.ParseAddr(v6)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return netip.Addr{}, syntaxError("malformed IPv6 address literal")
		}
		return a, nil
	}
	a, err := netip.ParseAddr(inner)
	if err != nil || !a.Is4() {
		return netip.Addr{}, syntaxError("malformed IPv4 address literal")
	}
	return a, nil
}

// checkDomain checks a Domain of RFC 5321 §4.1.2: dot-separated labels of
// letters, digits and hyphens, no label starting or ending with a hyphen.
// With eightBit, labels may hold UTF-8 (U-labels, RFC 6531 §3.3).
// allowUnderscore lets EHLO names through that only differ by "_".
func checkDomain(d string, eightBit, allowUnderscore bool) error {
	if d == "" {
		return syntaxError("empty domain")
	}
	if err := checkEightBit(d, eightBit); err != nil {
		return err
	}
	if len(d) > maxDomain {
		return syntaxError("domain too long")
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" {
			return syntaxError("empty label in domain")
		}
		if len(label) > maxLabel {
			return syntaxError("domain label too long")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return syntaxError("domain label starts or ends with a hyphen")
		}
		for i := 0; i < len(label); i++ {
			b := label[i]
			switch {
			case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '-':
			case b == '_' && allowUnderscore:
			case b >= 0x80: // UTF-8, allowed by checkEightBit
			default:
				return syntaxError("invalid character in domain")
			}
		}
	}
	return nil
}

// checkEightBit refuses bytes of 8 bits unless SMTPUTF8 allows them
// (RFC 6531 §3.3).
func checkEightBit(s string, eightBit bool) error {
	if eightBit {
		return nil
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return errEightBit
		}
	}
	return nil
}

// isAtext reports whether b is an atext character of RFC 5322 §3.2.3.
func isAtext(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", b) >= 0
}

// checkLocalPart checks a Local-part of RFC 5321 §4.1.2: a Dot-string or a
// Quoted-string, kept in the form it was sent (quotes included).
func checkLocalPart(l string, eightBit bool) error {
	if l == "" {
		return syntaxError("empty local part")
	}
	if len(l) > maxLocalPart {
		return syntaxError("local part too long")
	}
	if err := checkEightBit(l, eightBit); err != nil {
		return err
	}
	if l[0] == '"' {
		if len(l) < 2 || l[len(l)-1] != '"' {
			return syntaxError("unterminated quoted local part")
		}
		q := l[1 : len(l)-1]
		for i := 0; i < len(q); i++ {
			b := q[i]
			switch {
			case b == '\\':
				i++
				if i == len(q) || q[i] < 32 || q[i] > 126 {
					return syntaxError("bad quoted pair in local part")
				}
			case b == '"':
				return syntaxError("unescaped quote in local part")
			case b >= 32 && b <= 126:
			case b >= 0x80: // UTF-8, allowed by checkEightBit
			default:
				return syntaxError("invalid character in local part")
			}
		}
		return nil
	}
	for atom := range strings.SplitSeq(l, ".") {
		if atom == "" {
			return syntaxError("empty atom in local part (leading, trailing or double dot)")
		}
		for i := 0; i < len(atom); i++ {
			b := atom[i]
			switch {
			case isAtext(b):
			case b >= 0x80: // UTF-8, allowed by checkEightBit
			default:
				return syntaxError("invalid character in local part")
			}
		}
	}
	return nil
}

// splitMailbox finds the "@" between local part and domain: the first one
// outside a quoted local part.
func splitMailbox(m string) (local, domain string, err error) {
	i := 0
	if strings.HasPrefix(m, `"`) {
		// Find the closing quote, honouring quoted pairs.
		for i = 1; i < len(m); i++ {
			if m[i] == '\\' {
				i++
				continue
			}
			if m[i] == '"' {
				break
			}
		}
		if i >= len(m) {
			return "", "", syntaxError("unterminated quoted local part")
		}
		i++
		if i >= len(m) || m[i] != '@' {
			return "", "", syntaxError("mailbox needs local-part@domain")
		}
	} else {
		i = strings.IndexByte(m, '@')
		if i < 0 {
			return "", "", syntaxError("mailbox needs local-part@domain")
		}
	}
	return m[:i], m[i+1:], nil
}

// parseMailbox checks a Mailbox of RFC 5321 §4.1.2 and returns it as sent.
func parseMailbox(m string, eightBit bool) (string, error) {
	if !utf8.ValidString(m) {
		return "", syntaxError("address is not valid UTF-8")
	}
	local, domain, err := splitMailbox(m)
	if err != nil {
		return "", err
	}
	if err := checkLocalPart(local, eightBit); err != nil {
		return "", err
	}
	if strings.HasPrefix(domain, "[") {
		if _, err := parseAddressLiteral(domain); err != nil {
			return "", err
		}
	} else if err := checkDomain(domain, eightBit, false); err != nil {
		return "", err
	}
	return m, nil
}

// parsePath parses a Path, "<" [ A-d-l ":" ] Mailbox ">" (RFC 5321
// §4.1.2), or "<>" when nullOK, and returns the mailbox. s is exactly the
// bracketed path, as delimited by pathEnd. A source route (A-d-l) is checked
// and dropped, as §4.1.1.3 allows.
func parsePath(s string, nullOK, eightBit bool) (string, error) {
	path := s[1 : len(s)-1]
	if len(path) > maxPath {
		return "", syntaxError("address too long")
	}
	if path == "" {
		if !nullOK {
			return "", syntaxError("empty address")
		}
		return "", nil
	}
	if strings.HasPrefix(path, "@") {
		route, mbox, ok := strings.Cut(path, ":")
		if !ok {
			return "", syntaxError("malformed source route")
		}
		for hop := range strings.SplitSeq(route, ",") {
			if !strings.HasPrefix(hop, "@") || checkDomain(hop[1:], false, false) != nil {
				return "", syntaxError("malformed source route")
			}
		}
		path = mbox
	}
	return parseMailbox(path, eightBit)
}

// param is one ESMTP parameter of MAIL or RCPT (RFC 5321 §4.1.2).
type param struct {
	key, value string // key upper-cased; value "" when absent
	hasValue   bool
}

// parseParams parses " key[=value] key[=value]..." after a path.
func parseParams(s string) ([]param, error) {
	if s == "" {
		return nil, nil
	}
	if s[0] != ' ' {
		return nil, syntaxError("parameters must follow the address after a space")
	}
	var ps []param
	for f := range strings.FieldsSeq(s) {
		k, v, hasValue := strings.Cut(f, "=")
		if k == "" || !isKeyword(k) {
			return nil, syntaxError("malformed parameter")
		}
		if hasValue && !isParamValue(v) {
			return nil, syntaxError("malformed parameter value")
		}
		ps = append(ps, param{key: strings.ToUpper(k), value: v, hasValue: hasValue})
	}
	return ps, nil
}

// isKeyword reports whether k is an esmtp-keyword: (ALPHA / DIGIT) *(ALPHA / DIGIT / "-").
func isKeyword(k string) bool {
	for i := 0; i < len(k); i++ {
		b := k[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-' && i > 0) {
			return false
		}
	}
	return true
}

// isParamValue reports whether v is an esmtp-value: 1*(%d33-60 / %d62-126).
func isParamValue(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < 33 || b > 126 || b == '=' {
			return false
		}
	}
	return true
}

// mailArgs is what a valid MAIL FROM says.
type mailArgs struct {
	from     string
	size     int64
	body     string
	smtputf8 bool
}

// parseMail parses the argument of MAIL: "FROM:" Reverse-path [SP Mail-parameters].
// It knows the parameters this server offers: SIZE (RFC 1870), BODY
// (RFC 6152) and SMTPUTF8 (RFC 6531). One or more spaces after the colon are
// tolerated, as many clients send them.
func parseMail(arg string) (mailArgs, *Error) {
	s, ok := cutPrefixFold(arg, "FROM:")
	if !ok {
		return mailArgs{}, Errorf(501, EnhancedCode{5, 5, 2}, "Syntax: MAIL FROM:<address>")
	}
	s = strings.TrimLeft(s, " ")
	var m mailArgs
	// Parameters are parsed first: SMTPUTF8 decides whether the path may hold UTF-8.
	addrEnd := pathEnd(s)
	if addrEnd < 0 {
		return m, Errorf(501, EnhancedCode{5, 5, 2}, "Syntax: MAIL FROM:<address>: address must be in angle brackets")
	}
	ps, err := parseParams(s[addrEnd:])
	if err != nil {
		return m, Errorf(501, EnhancedCode{5, 5, 4}, "Syntax error in MAIL parameters: %v", err)
	}
	for _, p := range ps {
		switch p.key {
		case "SIZE":
			n, err := strconv.ParseInt(p.value, 10, 64)
			if err != nil || n < 0 {
				return m, Errorf(501, EnhancedCode{5, 5, 4}, "SIZE needs a number of octets")
			}
			m.size = n
		case "BODY":
			switch v := strings.ToUpper(p.value); v {
			case "7BIT", "8BITMIME":
				m.body = v
			default:
				return m, Errorf(501, EnhancedCode{5, 5, 4}, "BODY must be 7BIT or 8BITMIME")
			}
		case "SMTPUTF8":
			if p.hasValue {
				return m, Errorf(501, EnhancedCode{5, 5, 4}, "SMTPUTF8 takes no value")
			}
			m.smtputf8 = true
		default:
			return m, Errorf(555, EnhancedCode{5, 5, 4}, "MAIL parameter %s is not supported", p.key)
		}
	}
	from, perr := parsePath(s[:addrEnd], true, m.smtputf8)
	if perr != nil {
		return m, addressError(perr, EnhancedCode{5, 1, 7})
	}
	m.from = from
	return m, nil
}

// parseRcpt parses the argument of RCPT: "TO:" Forward-path [SP Rcpt-parameters].
// No RCPT parameter is offered. "<Postmaster>" without a domain is accepted
// (RFC 5321 §4.1.1.3) and returned as "postmaster".
func parseRcpt(arg string, eightBit bool) (string, *Error) {
	s, ok := cutPrefixFold(arg, "TO:")
	if !ok {
		return "", Errorf(501, EnhancedCode{5, 5, 2}, "Syntax: RCPT TO:<address>")
	}
	s = strings.TrimLeft(s, " ")
	if len(s) >= len("<postmaster>") && strings.EqualFold(s[:len("<postmaster>")], "<postmaster>") {
		if _, err := parseParams(s[len("<postmaster>"):]); err != nil {
			return "", Errorf(501, EnhancedCode{5, 5, 4}, "Syntax error in RCPT parameters: %v", err)
		}
		return "postmaster", nil
	}
	addrEnd := pathEnd(s)
	if addrEnd < 0 {
		return "", Errorf(501, EnhancedCode{5, 5, 2}, "Syntax: RCPT TO:<address>: address must be in angle brackets")
	}
	ps, err := parseParams(s[addrEnd:])
	if err != nil {
		return "", Errorf(501, EnhancedCode{5, 5, 4}, "Syntax error in RCPT parameters: %v", err)
	}
	if len(ps) > 0 {
		return "", Errorf(555, EnhancedCode{5, 5, 4}, "RCPT parameter %s is not supported", ps[0].key)
	}
	to, perr := parsePath(s[:addrEnd], false, eightBit)
	if perr != nil {
		return "", addressError(perr, EnhancedCode{5, 1, 3})
	}
	return to, nil
}

// pathEnd returns the index just past the ">" that closes the path at the
// start of s, skipping quoted strings, or -1.
func pathEnd(s string) int {
	if !strings.HasPrefix(s, "<") {
		return -1
	}
	inQuote := false
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if inQuote {
				i++
			}
		case '"':
			inQuote = !inQuote
		case '>':
			if !inQuote {
				return i + 1
			}
		}
	}
	return -1
}

// addressError turns a path syntax error into its reply.
func addressError(err error, enhanced EnhancedCode) *Error {
	if errors.Is(err, errEightBit) {
		return Errorf(553, EnhancedCode{5, 6, 7}, "Non-ASCII address needs MAIL FROM with SMTPUTF8 (RFC 6531)")
	}
	return Errorf(501, enhanced, "Bad address syntax: %v", err)
}

// cutPrefixFold is strings.CutPrefix ignoring ASCII case.
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}
