package smtpd

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

var errPanic = errors.New("smtpd: handler panicked")

// conn is one client connection and its session. Its protocol state belongs
// to the goroutine that runs serve; other goroutines only Close it and
// interrupt its reads (through tcp, never rw).
type conn struct {
	srv *Server
	tcp net.Conn      // the accepted socket
	rw  net.Conn      // tcp, or the *tls.Conn over it after STARTTLS
	br  *bufio.Reader // over rw, through socketReader
	bw  *bufio.Writer // the replies not yet sent, to rw through socketWriter
	log *slog.Logger  // made by logger when first needed

	info      Conn
	clientKey netip.Prefix // what MaxConnectionsPerIP counts it under (s.mu guards it)
	ctx       context.Context
	cancel    context.CancelFunc

	proxied      bool      // from Server.ProxyFrom: a PROXY header comes first
	proxyEnd     time.Time // the deadline of the PROXY header, while it is read
	countedPerIP bool      // counted under clientKey (s.mu guards it)

	// Deadlines (see socketReader).
	lineStart   time.Time // when the line being read may have started
	sessionEnd  time.Time
	dataEnd     time.Time
	inData      bool
	setDeadline time.Time // the read deadline last set on tcp

	refusal *Error    // set at accept when a cap refuses the client
	closing bool      // the session is over: no more reads or replies
	verb    string    // the command being answered, for the log
	env     *Envelope // the open transaction, or nil
	txCount int       // transactions opened, for their IDs
	opened  time.Time // when serve started, kept only for an Observer

	closeReason CloseReason // why the session ends, for an Observer

	// Counted since the last accepted message (see Server.MaxErrors,
	// MaxJunkCommands and MaxEmptyTransactions).
	errCount     int
	junkCount    int
	emptyTxCount int // transactions opened

	released  atomic.Bool
	closeOnce sync.Once

	// interruptMu keeps interrupt from moving the deadline under a TLS
	// handshake, which it would break.
	interruptMu sync.Mutex
	handshaking bool
}

// serve runs the session: the greeting, then one command line at a time,
// each answered by the method of its verb, until QUIT, a 421, an error of
// the connection or the end of the server.
func (c *conn) serve() {
	defer c.end()
	c.observeOpened()
	c.setState(StateNew)
	if c.proxied && !c.readProxyHeader() {
		return
	}
	if !c.greet() {
		return
	}
	for !c.closing {
		if c.srv.inShutdown.Load() && c.env == nil {
			c.closeWith(CloseShutdown, errShuttingDown(c.srv), nil)
			return
		}
		line, err := c.readCommandLine()
		switch {
		case err == nil:
			c.command(line)
		case errors.Is(err, errLineTooLong):
			c.verb = ""
			c.reply(Errorf(500, EnhancedCode{5, 5, 2}, "Line too long (at most %d octets)", maxCommandLine), nil)
		case errors.Is(err, errShutdown):
			c.closeWith(CloseShutdown, errShuttingDown(c.srv), nil)
		case isTimeout(err):
			c.closeWith(CloseTimeout, c.timeoutReply(), err)
		default:
			if !c.closing {
				c.logger().Debug("connection ended", "err", err)
			}
			c.setCloseReason(c.readFailReason(err))
			c.closing = true
		}
	}
}

// command answers one command line.
func (c *conn) command(line string) {
	verb, arg := splitCommand(line)
	c.verb = logVerb(verb)
	if err := checkCommandLine(line); err != nil {
		c.reply(Errorf(501, EnhancedCode{5, 5, 2}, "Syntax error: %v", err), nil)
		return
	}
	switch verb {
	case "EHLO", "HELO":
		c.hello(verb, arg)
	case "MAIL":
		c.mail(arg)
	case "RCPT":
		c.rcpt(arg)
	case "DATA":
		c.data(arg)
	case "RSET":
		c.rset()
	case "NOOP":
		if !c.junk() {
			c.replyOK(250, EnhancedCode{2, 0, 0}, "OK")
		}
	case "VRFY":
		if !c.junk() {
			c.replyOK(252, EnhancedCode{2, 5, 0}, "Cannot VRFY user, but will accept message and attempt delivery")
		}
	case "HELP":
		if !c.junk() {
			c.replyOK(214, EnhancedCode{2, 0, 0}, "See RFC 5321")
		}
	case "EXPN":
		if !c.junk() {
			c.reply(Errorf(502, EnhancedCode{5, 5, 1}, "EXPN is not supported"), nil)
		}
	case "QUIT":
		c.closeWith(CloseQuit, &Error{Code: 221, Enhanced: EnhancedCode{2, 0, 0}, Message: c.srv.hostname() + " Bye"}, nil)
	case "STARTTLS":
		c.startTLS(arg)
	case "AUTH":
		if c.srv.TLSConfig != nil && c.info.TLS == nil {
			c.reply(Errorf(530, EnhancedCode{5, 7, 0}, "Must issue a STARTTLS command first"), nil)
		} else {
			c.reply(Errorf(502, EnhancedCode{5, 5, 1}, "AUTH is not offered: this server only receives mail for its own domains"), nil)
		}
	case "BDAT":
		// CHUNKING is not offered; the chunk that follows cannot be told
		// from commands, so the session ends.
		c.closeWith(CloseProtocol, Errorf(502, EnhancedCode{5, 5, 1}, "BDAT is not supported (CHUNKING is not offered), closing connection"), nil)
	case "GET", "POST", "HEAD", "PUT", "CONNECT", "OPTIONS":
		c.closeWith(CloseProtocol, Errorf(421, EnhancedCode{4, 7, 0}, "%s This is an SMTP server", c.srv.hostname()), nil)
	default:
		c.reply(Errorf(500, EnhancedCode{5, 5, 1}, "Command not recognized"), nil)
	}
}

// logVerb is the verb as the log shows it: cut short, for a line that is
// not a command at all.
func logVerb(verb string) string {
	if len(verb) > 16 {
		return verb[:16]
	}
	return verb
}

// greet runs the caps, the shutdown and the Connect handler, which may
// refuse the client, and sends the greeting. It reports whether the session
// goes on.
func (c *conn) greet() bool {
	switch {
	case c.refusal != nil:
		c.closeWith(CloseLimit, c.refusal, nil)
		return false
	case c.srv.inShutdown.Load():
		c.closeWith(CloseShutdown, errShuttingDown(c.srv), nil)
		return false
	}
	if h := c.srv.Connect; h != nil {
		err := c.call(stageConnect, func() error { return h.Connect(c.ctx, &c.info) })
		if c.closing {
			return false
		}
		if err != nil {
			reply, reason := asReply(err), CloseRefused
			if reply == errInternal || reply.Code < 400 || reply.Code > 599 {
				reply, err, reason = errConnectInternal, &serverFault{err}, CloseError
			}
			c.closeWith(reason, reply, err)
			return false
		}
	}
	c.observeCode(220)
	c.write(fmt.Appendf(nil, "220 %s ESMTP ready\r\n", c.srv.hostname()))
	return !c.closing
}

// hello answers EHLO and HELO (RFC 5321 §4.1.1.1).
func (c *conn) hello(verb, arg string) {
	name, err := parseHelo(arg)
	if err != nil {
		c.reply(Errorf(501, EnhancedCode{5, 5, 4}, "Syntax error in %s: %v", verb, err), nil)
		return
	}
	// RFC 5321 §4.1.4: EHLO ends the open transaction as RSET does.
	c.endEmptyTransaction()
	c.env = nil
	// The first EHLO after STARTTLS is required (RFC 3207 §4.2), not junk.
	if c.info.Helo != "" && c.junk() {
		return
	}
	c.info.Helo, c.info.esmtp = name, verb == "EHLO"
	if verb == "HELO" {
		c.observeCode(250)
		c.write(fmt.Appendf(nil, "250 %s Hello %s\r\n", c.srv.hostname(), name))
		return
	}
	c.observeCode(250)
	c.write(c.ehloReply())
}

// ehloReply lists what this server offers (RFC 5321 §4.1.1.1).
func (c *conn) ehloReply() []byte {
	lines := []string{c.srv.hostname() + " Hello " + c.info.Helo, "PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8"}
	if max := c.srv.maxMessageBytes(); max > 0 {
		lines = append(lines, "SIZE "+strconv.FormatInt(max, 10))
	} else {
		lines = append(lines, "SIZE")
	}
	if c.srv.TLSConfig != nil && c.info.TLS == nil {
		lines = append(lines, "STARTTLS")
	}
	var b []byte
	for i, l := range lines {
		sep := byte('-')
		if i == len(lines)-1 {
			sep = ' '
		}
		b = append(b, "250"...)
		b = append(b, sep)
		b = append(b, l...)
		b = append(b, "\r\n"...)
	}
	return b
}

// mail opens a transaction (RFC 5321 §4.1.1.2).
func (c *conn) mail(arg string) {
	srv := c.srv
	switch {
	case c.info.Helo == "":
		c.reply(Errorf(503, EnhancedCode{5, 5, 1}, "Send EHLO first"), nil)
		return
	case c.env != nil:
		c.reply(Errorf(503, EnhancedCode{5, 5, 1}, "Nested MAIL command: a transaction is already open"), nil)
		return
	}
	m, refusal := parseMail(arg)
	if refusal == nil && !c.info.esmtp && (m.size != 0 || m.body != "" || m.smtputf8) {
		refusal = Errorf(555, EnhancedCode{5, 5, 4}, "MAIL parameters need EHLO")
	}
	if refusal == nil && srv.maxMessageBytes() > 0 && m.size > srv.maxMessageBytes() {
		refusal = Errorf(552, EnhancedCode{5, 3, 4}, "Message size exceeds fixed maximum message size (%d)", srv.maxMessageBytes())
	}
	if refusal != nil {
		c.reply(refusal, nil)
		return
	}
	if c.emptyTxCount >= srv.maxEmptyTransactions() {
		c.closeWith(CloseLimit, Errorf(421, EnhancedCode{4, 7, 0}, "%s Too many transactions without a message, closing connection", srv.hostname()), nil)
		return
	}
	c.emptyTxCount++
	if err := c.checkFreeSpace(m.size); err != nil {
		c.refuseTransaction(err)
		return
	}
	c.txCount++
	env := &Envelope{
		Conn:     &c.info,
		ID:       c.info.ID + "." + strconv.Itoa(c.txCount),
		From:     m.from,
		Size:     m.size,
		Body:     m.body,
		SMTPUTF8: m.smtputf8,
	}
	if h := srv.Mail; h != nil {
		if err := c.call(stageMail, func() error { return h.Mail(c.ctx, env) }); err != nil {
			c.refuseTransaction(err)
			return
		}
	}
	c.env = env
	c.replyOK(250, EnhancedCode{2, 1, 0}, "Sender OK")
}

// refuseTransaction answers a MAIL that FreeSpace or the Mail handler
// refused. The transaction ended at once, without a message: junk.
func (c *conn) refuseTransaction(err error) {
	if c.closing { // the handler panicked
		return
	}
	c.junkCount++
	c.reply(handlerReply(err))
}

// checkFreeSpace asks Server.FreeSpace whether a message of the declared
// size (0: none declared) would fit, and returns the refusal if not.
func (c *conn) checkFreeSpace(size int64) error {
	freeSpace := c.srv.FreeSpace
	if freeSpace == nil {
		return nil
	}
	if size == 0 {
		size = c.srv.maxMessageBytes() // 0 when unlimited
	}
	need := size + c.srv.freeSpaceReserve()
	if need < size { // overflow: SIZE near 2^63 with messages unlimited
		need = math.MaxInt64
	}
	var free int64
	err := c.call("", func() (err error) {
		free, err = freeSpace(c.ctx)
		if err != nil {
			err = fmt.Errorf("asking FreeSpace: %w", err)
		}
		return err
	})
	switch {
	case err != nil:
		return err
	case free < need:
		return &Error{Code: 452, Enhanced: EnhancedCode{4, 3, 1}, Message: "Insufficient system storage",
			Err: &serverFault{fmt.Errorf("%d bytes free where messages are stored, %d needed", free, need)}}
	}
	return nil
}

// rcpt adds a recipient to the transaction (RFC 5321 §4.1.1.3), if the
// Rcpt handler accepts it. A recipient given twice is accepted once.
func (c *conn) rcpt(arg string) {
	env := c.env
	if env == nil {
		c.reply(Errorf(503, EnhancedCode{5, 5, 1}, "Send MAIL first"), nil)
		return
	}
	to, refusal := parseRcpt(arg, env.SMTPUTF8)
	if refusal != nil {
		c.reply(refusal, nil)
		return
	}
	for _, r := range env.Rcpt {
		if r == to {
			c.replyOK(250, EnhancedCode{2, 1, 5}, "Recipient OK")
			return
		}
	}
	if len(env.Rcpt) >= c.srv.maxRecipients() {
		c.reply(Errorf(452, EnhancedCode{4, 5, 3}, "Too many recipients (at most %d)", c.srv.maxRecipients()), nil)
		return
	}
	if err := c.call(stageRcpt, func() error { return c.srv.Rcpt.Rcpt(c.ctx, env, to) }); err != nil {
		if !c.closing {
			c.reply(handlerReply(err))
		}
		return
	}
	env.Rcpt = append(env.Rcpt, to)
	c.replyOK(250, EnhancedCode{2, 1, 5}, "Recipient OK")
}

// data receives the message (RFC 5321 §4.1.1.4) and hands it to the Data
// handler as it arrives, through a dataReader. Whatever the handler does,
// the message is read to its end marker before the reply, so that no line
// of it is ever taken for a command; a connection that fails inside it is
// closed with 421.
func (c *conn) data(arg string) {
	env := c.env
	switch {
	case arg != "":
		c.reply(Errorf(501, EnhancedCode{5, 5, 4}, "DATA takes no argument"), nil)
		return
	case env == nil:
		c.reply(Errorf(503, EnhancedCode{5, 5, 1}, "Send MAIL and RCPT first"), nil)
		return
	case len(env.Rcpt) == 0:
		c.reply(Errorf(554, EnhancedCode{5, 5, 1}, "No valid recipients"), nil)
		return
	}
	// The client waits for the 354 (RFC 2920 §3.1), and the Data handler
	// may take its time before it reads: the 354 goes out now.
	c.observeCode(354)
	c.write([]byte("354 Start mail input; end with <CRLF>.<CRLF>\r\n"))
	if c.flush() != nil {
		return
	}
	now := time.Now()
	c.inData, c.dataEnd = true, now.Add(c.srv.dataTimeout())
	dr := newDataReader(c.br, c.srv.maxMessageBytes(), c.srv.maxReceivedHeaders())
	msg := &messageReader{head: receivedHeader(c.srv.hostname(), env, now), dr: dr}
	herr := c.call(stageData, func() error { return c.srv.Data.Data(c.ctx, env, msg) })
	if c.closing { // the handler panicked
		return
	}
	if err := dr.drain(); err != nil {
		reply := Errorf(421, EnhancedCode{4, 4, 2}, "%s Connection error inside DATA, closing connection", c.srv.hostname())
		if isTimeout(err) {
			reply = c.timeoutReply()
		}
		c.closeWith(c.readFailReason(err), reply, err)
		return
	}
	c.inData = false
	switch {
	case dr.refused != nil:
		c.endEmptyTransaction()
		c.reply(handlerReply(dr.refused))
	case herr != nil:
		c.endEmptyTransaction()
		c.reply(handlerReply(herr))
	default:
		c.errCount, c.junkCount, c.emptyTxCount = 0, 0, 0
		if c.srv.logger().Enabled(context.Background(), slog.LevelInfo) {
			c.logger().Info("message accepted", "helo", c.info.Helo, "id", env.ID, "from", env.From, "rcpt", env.Rcpt, "size", dr.n)
		}
		c.observeAccepted(dr.n, len(env.Rcpt))
		c.replyOK(250, EnhancedCode{2, 0, 0}, "OK: queued as "+env.ID)
	}
	c.env = nil
}

// rset ends the open transaction (RFC 5321 §4.1.1.5).
func (c *conn) rset() {
	c.endEmptyTransaction()
	c.env = nil
	if !c.junk() {
		c.replyOK(250, EnhancedCode{2, 0, 0}, "Reset")
	}
}

// junk counts a command that does nothing and reports whether that ended
// the session.
func (c *conn) junk() bool {
	c.junkCount++
	return c.tooMuchJunk()
}

// tooMuchJunk ends the session once it has sent more commands that do
// nothing than MaxJunkCommands allows, and reports whether it did.
func (c *conn) tooMuchJunk() bool {
	if c.junkCount > c.srv.maxJunkCommands() {
		c.closeWith(CloseLimit, Errorf(421, EnhancedCode{4, 7, 0}, "%s Too many commands that do nothing, closing connection", c.srv.hostname()), nil)
		return true
	}
	return false
}

// endEmptyTransaction counts the open transaction, which is ending without
// a message, as junk: its MAIL made the Mail handler work for nothing. The
// limit is checked by the command that ends it (or after the reply that
// refuses it), so that the client still gets that reply.
func (c *conn) endEmptyTransaction() {
	if c.env != nil {
		c.junkCount++
	}
}

// startTLS upgrades the connection (RFC 3207).
func (c *conn) startTLS(arg string) {
	cfg := c.srv.TLSConfig
	switch {
	case cfg == nil:
		c.reply(Errorf(502, EnhancedCode{5, 5, 1}, "STARTTLS is not offered"), nil)
		return
	case c.info.TLS != nil:
		c.reply(Errorf(503, EnhancedCode{5, 5, 1}, "TLS is already active"), nil)
		return
	case arg != "":
		c.reply(Errorf(501, EnhancedCode{5, 5, 4}, "STARTTLS takes no argument"), nil)
		return
	case c.env != nil:
		c.reply(Errorf(503, EnhancedCode{5, 5, 1}, "STARTTLS is not allowed inside a transaction"), nil)
		return
	}
	c.observeCode(220)
	c.write([]byte("220 2.0.0 Ready to start TLS\r\n"))
	if c.flush() != nil {
		return
	}
	tc := tls.Server(c.tcp, cfg)
	c.setHandshaking(true)
	c.tcp.SetDeadline(time.Now().Add(c.srv.activeReadTimeout()))
	c.setDeadline = time.Time{}
	err := tc.HandshakeContext(c.ctx)
	c.setHandshaking(false)
	c.tcp.SetWriteDeadline(time.Time{})
	if err != nil {
		c.logger().Info("TLS handshake failed", "err", err)
		c.setCloseReason(CloseNetwork)
		c.closing = true
		c.Close()
		return
	}
	state := tc.ConnectionState()
	c.rw = tc
	// Reset drops what the client sent after STARTTLS in clear text, so it
	// cannot pose as commands sent under TLS (CVE-2011-0411).
	c.br.Reset(socketReader{c})
	c.lineStart = time.Now()
	// RFC 3207 §4.2: the server forgets what the client said before.
	c.info.TLS, c.info.Helo, c.info.esmtp = &state, "", false
}

// call runs the handler of stage (reported to Observer.Handler; "" for
// none). A panic is logged with its stack and ends the session with 421,
// never the server. An error that is not an *Error comes back marked as a
// serverFault.
func (c *conn) call(stage string, h func() error) (err error) {
	if done := c.handlerTimer(stage); done != nil {
		defer done()
	}
	defer func() {
		if p := recover(); p != nil {
			c.logger().Error("handler panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			c.closeWith(CloseError, Errorf(421, EnhancedCode{4, 3, 0}, "%s Internal server error, closing connection", c.srv.hostname()), errPanic)
			err = errPanic
		}
	}()
	return asFault(h())
}

// logger returns the Server's logger with the connection's keys. It is
// made at first use: slog's With formats its attributes at once, which cost
// 2% of the CPU of a session that sends one message and logs nothing.
func (c *conn) logger() *slog.Logger {
	if c.log == nil {
		c.log = c.srv.logger().With("conn", c.info.ID, "remote", c.info.RemoteAddr.String())
	}
	return c.log
}

// Close closes the connection; it may be called from any goroutine.
func (c *conn) Close() error {
	c.closeOnce.Do(func() {
		c.release()
		c.cancel()
		c.tcp.Close()
		c.srv.forget(c)
	})
	return nil
}

// release gives back the connection's place under the connection caps.
// It is done before the last reply, so a client that reconnects at once
// finds its place free.
func (c *conn) release() {
	if c.released.CompareAndSwap(false, true) {
		c.srv.releaseSlot(c)
	}
}

// setState reports the connection's state to Server.ConnState, if set. A
// panic there is logged and ends nothing but the call.
func (c *conn) setState(st ConnState) {
	hook := c.srv.ConnState
	if hook == nil {
		return
	}
	defer func() {
		if p := recover(); p != nil {
			c.logger().Error("ConnState hook panicked", "state", st.String(), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	hook(&c.info, st)
}

// end closes the connection once serve returns, and gives its buffers back
// to their pools: nothing reads or writes them any more. A panic of the
// server's own code ends this session only.
func (c *conn) end() {
	if p := recover(); p != nil {
		c.logger().Error("session panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		c.setCloseReason(CloseError)
	}
	c.closing = true
	c.Close()
	c.setState(StateClosed)
	c.observeClosed()
	c.br.Reset(nil)
	readerPool.Put(c.br)
	c.bw.Reset(nil)
	writerPool.Put(c.bw)
	c.br, c.bw = nil, nil
	c.srv.active.Add(-1)
}
