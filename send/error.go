package send

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ownmx/ownmx/smtpd"
)

// The Command of an Error: the step of the delivery that failed.
const (
	CommandConnect  = "connect"     // the TCP connection
	CommandGreeting = "greeting"    // the server's 220 (RFC 5321 §4.3.1)
	CommandEHLO     = "EHLO"        // EHLO, or HELO after it
	CommandSTARTTLS = "STARTTLS"    // STARTTLS and the TLS handshake (RFC 3207)
	CommandMail     = "MAIL FROM"   // MAIL FROM, and the checks made before it
	CommandRcpt     = "RCPT TO"     // RCPT TO
	CommandData     = "DATA"        // DATA, and the sending of the message
	CommandDataEnd  = "end of data" // the reply to the final "." (RFC 5321 §4.1.1.4)
)

// Error is a failed delivery: a reply of the server, a connection or TLS
// failure, a DNS answer, or a policy that forbids sending. Send returns
// one for every failure but a Sender's bad configuration; IsPermanent
// tells a bounce from a retry.
type Error struct {
	// Rcpt is the recipient, as given to Send.
	Rcpt string
	// Host is the name of the MX host the failure came from, without a
	// final dot; empty when it came before any host (the recipient
	// domain's MX lookup, its MTA-STS policy, a malformed address).
	Host string
	// IP is the address of Host that was tried; the zero Addr when none
	// was.
	IP netip.Addr
	// Command is the step that failed, one of the Command constants, or
	// empty when no host was tried.
	Command string
	// Code is the server's reply code (RFC 5321 §4.2); zero when the
	// failure is not a reply.
	Code int
	// Enhanced is the enhanced status code (RFC 3463): the server's,
	// when its reply had one; for a failure that is not a reply, the one
	// that names it, such as 4.4.1 (no answer from host) or 5.1.10 (null
	// MX, RFC 7505 §4.2). It is zero for a reply without one.
	Enhanced smtpd.EnhancedCode
	// Message is the server's text, its lines joined by spaces, control
	// characters replaced, at most 2000 bytes long; for a failure
	// that is not a reply, what went wrong.
	Message string
	// Err is the cause: a network, TLS or DNS error, or the context's
	// error when its deadline passed. Nil for a reply.
	Err error
	// Permanent is true when trying again later cannot succeed: a 5xx
	// reply to MAIL FROM, RCPT TO or the message, a domain that does not
	// exist or accepts no mail. The message should then be bounced.
	Permanent bool

	// final stops Send from trying other hosts: the server refused the
	// transaction itself, and another MX host of the same domain would
	// refuse it too.
	final bool
	// retryPlain asks for the same address again without STARTTLS: the
	// TLS handshake failed where TLS is only opportunistic.
	retryPlain bool
}

// maxMessageBytes bounds Error.Message: a reply line is at most 512
// octets (RFC 5321 §4.5.3.1.5), and a few lines of one say what there is
// to say.
const maxMessageBytes = 2000

// Error says which recipient, host, address and step failed, and how.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("send: <")
	b.WriteString(e.Rcpt)
	b.WriteString(">: ")
	if e.Host != "" {
		b.WriteString(e.Host)
		if e.IP.IsValid() {
			b.WriteString(" [" + e.IP.String() + "]")
		}
		b.WriteString(": ")
	}
	if e.Command != "" {
		b.WriteString(e.Command + ": ")
	}
	if e.Code != 0 {
		b.WriteString(strconv.Itoa(e.Code) + " ")
	}
	if e.Enhanced != (smtpd.EnhancedCode{}) {
		b.WriteString(e.Enhanced.String() + " ")
	}
	b.WriteString(e.Message)
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Status returns the RFC 3463 status code of the failure: Enhanced when
// set, otherwise the class of Code or of Permanent with ".0.0".
func (e *Error) Status() smtpd.EnhancedCode {
	if e.Enhanced != (smtpd.EnhancedCode{}) {
		return e.Enhanced
	}
	if e.Code/100 == 5 || (e.Code == 0 && e.Permanent) {
		return smtpd.EnhancedCode{5, 0, 0}
	}
	return smtpd.EnhancedCode{4, 0, 0}
}

// IsPermanent reports whether err is, or wraps, an *Error that trying
// again cannot mend. Any other error, a Sender's bad configuration for
// one, is temporary.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

// cleanText makes a server's text fit for logs, errors and a DSN: lines
// joined by spaces, control characters and invalid UTF-8 replaced, at most
// maxMessageBytes long.
func cleanText(s string) string {
	var b strings.Builder
	for i, r := range s {
		if b.Len()+utf8.RuneLen(r) > maxMessageBytes {
			break
		}
		switch {
		case r == '\n':
			b.WriteByte(' ')
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			b.WriteByte('?')
		case unicode.IsControl(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
