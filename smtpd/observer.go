package smtpd

import "time"

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
	// ended, with how long it lasted.
	ConnClosed func(d time.Duration)
	// Reply is called for each reply sent: command is the verb answered
	// ("MAIL", "RCPT", "DATA", …), "" for the greeting and "OTHER" for a
	// line that is not a known command. The enhanced code is zero for
	// the replies that have none (220, the EHLO reply, 354). A refusal
	// is a reply of code 400 or more; its command is the stage refused.
	Reply func(command string, code int, enhanced EnhancedCode)
}

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
	o.ConnClosed(time.Since(c.opened))
}

// observeCode reports a reply written without an *Error (the greeting,
// the EHLO reply, 354) to the Observer, if any.
func (c *conn) observeCode(code int) {
	if c.srv.Observer != nil {
		c.observeReply(&Error{Code: code})
	}
}
