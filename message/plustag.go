package message

import "strings"

// PlusTag splits a recipient address of the form user+tag@domain
// (subaddressing: the "detail" of RFC 5233 §3, Postfix's
// recipient_delimiter) into the address without its tag and the tag:
//
//	PlusTag("me+shop@example.com") // "me@example.com", "shop"
//
// The split is at the first "+" of the local part, which is what precedes
// the last "@" (a quoted local part may hold "@", RFC 5321 §4.1.2). A
// quoted local part is read unquoted, as the same mailbox (RFC 5321
// §2.4), and the user part is quoted again if it needs it. An address
// without a tag, or whose local part starts with "+", is returned as it
// is with tag "". addr is an address as SMTP gives it, without angle
// brackets.
func PlusTag(addr string) (base, tag string) {
	local, domain := addr, ""
	if at := strings.LastIndexByte(addr, '@'); at >= 0 {
		local, domain = addr[:at], addr[at:]
	}
	if len(local) >= 2 && local[0] == '"' && local[len(local)-1] == '"' {
		unquoted, ok := unquoteLocal(local[1 : len(local)-1])
		if !ok {
			return addr, ""
		}
		user, tag, found := strings.Cut(unquoted, "+")
		if !found || user == "" {
			return addr, ""
		}
		return quoteLocal(user) + domain, tag
	}
	user, tag, found := strings.Cut(local, "+")
	if !found || user == "" {
		return addr, ""
	}
	return user + domain, tag
}

// unquoteLocal undoes the quoted-pairs of the inside of a quoted string
// (RFC 5321 §4.1.2); ok is false when it ends in a lone backslash or has
// an unescaped quote.
func unquoteLocal(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
			if i == len(s) {
				return "", false
			}
		case '"':
			return "", false
		}
		b.WriteByte(s[i])
	}
	return b.String(), true
}

// quoteLocal returns the local part s as a dot-string if it is one, else
// as a quoted string (RFC 5321 §4.1.2).
func quoteLocal(s string) string {
	if isDotString(s) {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// isDotString reports whether s is atoms joined by single dots
// (RFC 5321 §4.1.2, with the UTF-8 of RFC 6531 §3.3).
func isDotString(s string) bool {
	if s == "" {
		return false
	}
	for _, atom := range strings.Split(s, ".") {
		if atom == "" {
			return false
		}
		for i := 0; i < len(atom); i++ {
			c := atom[i]
			if c >= 0x80 || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0 {
				continue
			}
			return false
		}
	}
	return true
}
