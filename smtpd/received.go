package smtpd

import (
	"crypto/tls"
	"strings"
	"time"
)

// receivedHeader returns the trace header of RFC 5321 §4.4 for a message
// of env, received at now:
//
//	Received: from HELO ([IP])
//		by HOSTNAME with ESMTPS (TLS1.3 CIPHER) id ID
//		for <RCPT>; DATE
//
// Everything that came from the client (the EHLO name, the recipient) is
// reduced to characters that cannot end the header, start another or break
// its structure, whatever the parser let through. "for" names the recipient
// only when there is exactly one, so a message to several does not tell
// each of them who else got it.
func receivedHeader(hostname string, env *Envelope, now time.Time) string {
	var b strings.Builder
	b.Grow(256)
	c := env.Conn
	b.WriteString("Received: from ")
	b.WriteString(headerSafe(c.Helo, false))
	b.WriteString(" (")
	b.WriteString(addressLiteral(c))
	b.WriteString(")\r\n\tby ")
	b.WriteString(headerSafe(hostname, false))
	b.WriteString(" with ")
	b.WriteString(protocolName(c, env))
	if c.TLS != nil {
		b.WriteString(" (")
		b.WriteString(tls.VersionName(c.TLS.Version))
		b.WriteByte(' ')
		b.WriteString(tls.CipherSuiteName(c.TLS.CipherSuite))
		b.WriteByte(')')
	}
	b.WriteString(" id ")
	b.WriteString(env.ID)
	if len(env.Rcpt) == 1 {
		b.WriteString("\r\n\tfor <")
		b.WriteString(headerSafe(env.Rcpt[0], true))
		b.WriteByte('>')
	}
	b.WriteString(";\r\n\t")
	b.WriteString(now.Format(time.RFC1123Z))
	b.WriteString("\r\n")
	return b.String()
}

// addressLiteral returns the client's IP as an RFC 5321 address literal.
func addressLiteral(c *Conn) string {
	ip := c.RemoteAddr.Addr().Unmap()
	switch {
	case !ip.IsValid():
		return "[unknown]"
	case ip.Is4():
		return "[" + ip.String() + "]"
	default:
		return "[IPv6:" + ip.WithZone("").String() + "]"
	}
}

// protocolName returns the "with" value registered for the session
// (RFC 3848, RFC 6531 §3.7.3).
func protocolName(c *Conn, env *Envelope) string {
	p := "ESMTP"
	switch {
	case env.SMTPUTF8:
		p = "UTF8SMTP"
	case !c.esmtp:
		p = "SMTP"
	}
	if c.TLS != nil {
		p += "S"
	}
	return p
}

// headerSafe keeps the characters that may stand in a trace header token
// and replaces any other with "?". Addresses (addr) may also hold the
// printable ASCII of quoted local parts and UTF-8 (RFC 6532), but never
// a control character, "<", ">" or ";".
func headerSafe(s string, addr bool) string {
	if s == "" {
		return "unknown"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
			return r
		case strings.ContainsRune(".-_[]:", r):
			return r
		case addr && r > ' ' && r < 0x7f && !strings.ContainsRune("<>;()\\", r):
			return r
		case addr && r >= 0x80 && r != 0xfffd && r != 0x85 && r != 0x2028 && r != 0x2029:
			return r
		}
		return '?'
	}, s)
}
