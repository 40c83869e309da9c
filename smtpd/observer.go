package smtpd

import (
	"errors"
	"io"
	"time"
)

// Observer receives the events of the server's sessions, for metrics. Each
// field is optional; a nil Observer on the Server costs a nil check per
// event. The functions run on the sessions' goroutines, for many sessions
// at once: they must be safe for concurrent use and quick. Set it before
// Serve. They are given no addresses or free text, so that counters built
// from them keep a bounded number of labels.
type Observer struct {
	// ConnOpened is called when a connection is accepted, before the caps
	// and the Connect handler have a say.
	ConnOpened func()
	// ConnClosed is called once for every connection opened, when it has
	// ended, with how long it lasted and why it ended.
	ConnClosed func(d time.Duration, reason CloseReason)
	// Reply is called for each reply sent: command is the verb answered
	// ("MAIL", "RCPT", "DATA", …), "" for the greeting and "OTHER" for a
	// line that is not a known command. The enhanced code is zero for
	// the replies that have none (220, the EHLO reply, 354). A refusal
	// is a reply of code 400 or more; its command is the stage refused.
	Reply func(command string, code int, enhanced EnhancedCode)
	// MessageAccepted is called once for each message accepted, when the
	// Data handler has returned success and before the 250 goes out, with
	// the message's size in octets as the client sent it (dot-stuffing
	// undone, without the Received field the server adds) and its number
	// of recipients.
	MessageAccepted func(size int64, recipients int)
	// Handler is called after each call of a handler, whatever it
	// returned, with its stage ("CONNECT", "MAIL", "RCPT" or "DATA") and
	// how long it took. The Data handler reads the message as it arrives:
	// its time includes the transfer.
	Handler func(stage string, d time.Duration)
}

// CloseReason says why a connection ended (Observer.ConnClosed). It is one
// of the constants below.
type CloseReason string

// The reasons a connection ends.
const (
	// CloseQuit: the client sent QUIT.
	CloseQuit CloseReason = "quit"
	// CloseDisconnect: the client closed the connection without QUIT.
	CloseDisconnect CloseReason = "disconnect"
	// CloseNetwork: the connection failed (a reset, a failed write, a
	// failed TLS handshake).
	CloseNetwork CloseReason = "network"
	// CloseTimeout: a deadline ran out (ReadTimeout, DataTimeout,
	// SessionTimeout) and the session was closed with 421.
	CloseTimeout CloseReason = "timeout"
	// CloseLimit: one of the server's limits ended the session (the
	// caps at accept, MaxErrors, MaxJunkCommands, MaxEmptyTransactions).
	CloseLimit CloseReason = "limit"
	// CloseRefused: a handler ended the session with its own 421, or the
	// Connect handler refused the client.
	CloseRefused CloseReason = "refused"
	// CloseProtocol: what the client sent cannot go on as SMTP: BDAT, an
	// HTTP request, a missing or invalid PROXY header.
	CloseProtocol CloseReason = "protocol"
	// CloseShutdown: the server is stopping (Shutdown or Close).
	CloseShutdown CloseReason = "shutdown"
	// CloseError: the server's own fault: a handler panicked, or the
	// Connect handler failed without a reply.
	CloseError CloseReason = "error"
)

// Handler stages, as Observer.Handler names them.
const (
	stageConnect = "CONNECT"
	stageMail    = "MAIL"
	stageRcpt    = "RCPT"
	stageData    = "DATA"
)

// observedCommands are the verbs reported as themselves; any other is
// reported as "OTHER", which keeps the label set bounded.
var observedCommands = map[string]bool{
	"": true, "EHLO": true, "HELO": true, "MAIL": true, "RCPT": true,
	"DATA": true, "RSET": true, "NOOP": true, "VRFY": true, "HELP": true,
	"EXPN": true, "QUIT": true, "STARTTLS": true, "AUTH": true, "BDAT": true,
}

// observeReply reports a reply to the Observer, if any.
func (c *conn) observeReply(e *Error) {
	o := c.srv.Observer
	if o == nil || o.Reply == nil {
		return
	}
	verb := c.verb
	if !observedCommands[verb] {
		verb = "OTHER"
	}
	o.Reply(verb, e.Code, e.Enhanced)
}

// observeOpened reports the new connection to the Observer, if any.
func (c *conn) observeOpened() {
	o := c.srv.Observer
	if o == nil {
		return
	}
	c.opened = time.Now()
	if o.ConnOpened != nil {
		o.ConnOpened()
	}
}

// observeClosed reports the end of the connection to the Observer, if any.
func (c *conn) observeClosed() {
	o := c.srv.Observer
	if o == nil || o.ConnClosed == nil {
		return
	}
	reason := c.closeReason
	if reason == "" {
		reason = CloseNetwork
	}
	o.ConnClosed(time.Since(c.opened), reason)
}

// observeCode reports a reply written without an *Error (the greeting,
// the EHLO reply, 354) to the Observer, if any.
func (c *conn) observeCode(code int) {
	if c.srv.Observer != nil {
		c.observeReply(&Error{Code: code})
	}
}

// observeAccepted reports an accepted message to the Observer, if any.
func (c *conn) observeAccepted(size int64, recipients int) {
	if o := c.srv.Observer; o != nil && o.MessageAccepted != nil {
		o.MessageAccepted(size, recipients)
	}
}

// handlerTimer returns the function that reports, when called, how long
// the handler of stage took since now; nil without an Observer.Handler.
func (c *conn) handlerTimer(stage string) func() {
	o := c.srv.Observer
	if o == nil || o.Handler == nil || stage == "" {
		return nil
	}
	start := time.Now()
	return func() { o.Handler(stage, time.Since(start)) }
}

// setCloseReason records why the session ends; the first reason stands.
func (c *conn) setCloseReason(r CloseReason) {
	if c.closeReason == "" {
		c.closeReason = r
	}
}

// readFailReason is why a session ends whose read from the client failed
// with err.
func (c *conn) readFailReason(err error) CloseReason {
	switch {
	case isTimeout(err):
		return CloseTimeout
	case c.srv.inShutdown.Load():
		return CloseShutdown
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return CloseDisconnect
	}
	return CloseNetwork
}
