package smtpd

import (
	"crypto/tls"
	"net/netip"
	"strings"
)

// Conn describes a client connection. The server fills it in; handlers read it.
// Helo and TLS change as the session goes on (after EHLO and STARTTLS), always
// from the connection's own goroutine, so a handler may read them without
// locking but must not keep the pointer beyond the call that received it.
//
// Values set with SetValue last as long as the connection: a Connect
// handler may look a client up (a DNS blocklist, a reputation score) and
// leave the answer for the Mail, Rcpt and Data handlers of every
// transaction on the connection, which find it through Envelope.Conn.
type Conn struct {
	// ID names the connection in logs and in the Received header.
	ID string
	// RemoteAddr is the client's address and port.
	RemoteAddr netip.AddrPort
	// LocalAddr is the address and port the client connected to.
	LocalAddr netip.AddrPort
	// Helo is the name the client gave in EHLO or HELO; empty before that.
	Helo string
	// TLS is the state of the TLS layer after STARTTLS, or nil.
	TLS *tls.ConnectionState

	esmtp  bool // the client said EHLO, not HELO
	values map[any]any
}

// Value returns what a handler stored under key with SetValue on this
// connection, or nil.
func (c *Conn) Value(key any) any { return c.values[key] }

// SetValue stores val under key for the handlers that run later on the same
// connection, in this and later transactions. As with context.WithValue,
// key should be of an unexported type. Like the rest of Conn it belongs to
// the connection's goroutine: call it from a handler, not from a goroutine
// the handler started.
func (c *Conn) SetValue(key, val any) {
	if c.values == nil {
		c.values = make(map[any]any)
	}
	c.values[key] = val
}

// Envelope is one mail transaction: what the client said in MAIL FROM and
// RCPT TO, and about the connection it came on. The server creates a new
// Envelope at each MAIL command; handlers may read it and set the fields that
// say so.
type Envelope struct {
	// Conn is the connection the transaction came on.
	Conn *Conn
	// ID names the transaction in logs and in the Received header.
	ID string
	// From is the reverse-path of MAIL FROM without angle brackets, in the
	// form the client sent it; "" is the null sender of bounces.
	From string
	// Rcpt holds the recipients the Rcpt handler accepted, in order.
	Rcpt []string
	// Size is the size the client declared with MAIL FROM SIZE=, or 0.
	Size int64
	// Body is the BODY= value of MAIL FROM ("7BIT", "8BITMIME"), or "".
	Body string
	// SMTPUTF8 is true when MAIL FROM carried SMTPUTF8 (RFC 6531).
	SMTPUTF8 bool
	// Quarantine is set by a filter (such as a DMARC policy of quarantine)
	// that wants the message delivered to the mailbox's junk folder rather
	// than its inbox. Stores honour it.
	Quarantine bool

	values map[any]any
}

// Value returns what a handler stored under key with SetValue during this
// transaction, or nil.
func (e *Envelope) Value(key any) any { return e.values[key] }

// SetValue stores val under key for the handlers that run later in the same
// transaction (a Mail handler leaving a result for a Data middleware, say).
// As with context.WithValue, key should be of an unexported type.
func (e *Envelope) SetValue(key, val any) {
	if e.values == nil {
		e.values = make(map[any]any)
	}
	e.values[key] = val
}

// SplitAddress splits a mailbox (local-part@domain, as found in Envelope.From
// and Envelope.Rcpt) at its last "@", which is the right one even when a
// quoted local part holds an "@" ("a@b"@example.com). It reports false when
// addr has no "@".
func SplitAddress(addr string) (local, domain string, ok bool) {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return "", "", false
	}
	return addr[:i], addr[i+1:], true
}
