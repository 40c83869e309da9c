package smtpd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// How ownmx sits on go-smtp
//
// go-smtp runs the session: it greets, keeps the state of the transaction
// and calls our smtp.Session (the conn below) at EHLO, MAIL, RCPT, DATA and
// RSET. But it reads commands and message text with no limit per line in
// time, splits addresses leniently, answers read errors inside DATA with 554
// and reads on, has no hook before the greeting and no context.
//
// So the net.Conn that go-smtp reads and writes is a conn: it reads the
// socket itself, one line at a time under a deadline per line, checks each
// command strictly and answers the bad ones itself; go-smtp gets only the
// commands that passed, one line per Read, so its replies come in order. For
// DATA, Session.Data reads the message straight from the socket through a
// dataReader and then hands go-smtp an empty message so that it writes the
// reply. The replies go-smtp writes pass through Write, which sends each as
// one write and puts our text in the replies that carry addresses or
// capabilities. After a read error inside DATA the conn answers 421 and
// closes: nothing after it is read as a command.

// maxCommandLine bounds a command line, CRLF included. RFC 5321
// §4.5.3.1.4 asks for 512 octets; extensions make lines longer.
const maxCommandLine = 2048

// readBufferSize is the size of the buffer on the socket.
const readBufferSize = 32 << 10

// readerPool holds the buffered readers of ended connections. Allocating
// and zeroing 32 KiB for each connection cost a tenth of the CPU of a
// session that sends one small message.
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufferSize) }}

var (
	errLineTooLong = errors.New("smtpd: command line too long")
	errShutdown    = errors.New("smtpd: server shutting down")
	errPanic       = errors.New("smtpd: handler panicked")
)

// conn is one client connection. It is the net.Conn go-smtp talks to and
// the smtp.Session go-smtp calls. All its protocol state belongs to the
// goroutine go-smtp runs for the connection; other goroutines only Close it
// and interrupt its reads (through tcp, never rw).
type conn struct {
	srv *Server
	tcp net.Conn      // the accepted socket
	rw  net.Conn      // tcp, or the *tls.Conn over it after STARTTLS
	br  *bufio.Reader // over rw, through socketReader
	log *slog.Logger  // made by logger when first needed

	info      Conn
	clientKey netip.Prefix // what MaxConnectionsPerIP counts it under
	ctx       context.Context
	cancel    context.CancelFunc

	// Deadlines (see socketReader).
	lineStart   time.Time // when the line being read may have started
	sessionEnd  time.Time
	dataEnd     time.Time
	inData      bool
	setDeadline time.Time // the read deadline last set on tcp

	greeted     bool
	refusal     *Error // set at accept when a cap refuses the client
	closing     bool
	env         *Envelope // the open transaction, or nil
	pendingMail *mailArgs // the MAIL command handed to go-smtp
	pendingRcpt string    // the RCPT address handed to go-smtp
	lastVerb    string    // the command being answered
	synthEnd    bool      // go-smtp is to read an empty message next
	out         string    // what go-smtp is yet to read of the line it was given
	reply       []byte    // the reply go-smtp is writing
	replyErr    error     // the cause of the refusal go-smtp is writing, for the log
	txCount     int

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

// socketReader reads the socket under the connection's deadlines. Each line
// must arrive whole within ReadTimeout (OverloadReadTimeout while the server
// is overloaded) of its start, a line starting when the previous one ended
// or when the server last replied; a byte now and then does not renew it.
// DataTimeout bounds the whole message and SessionTimeout the whole session.
//
// Other goroutines stop a read with interrupt, which moves the deadline to
// now, after changing what the deadline depends on (Shutdown, the overload
// starting or ending): the read then times out before its deadline, and
// socketReader sets the deadline again and goes on.
type socketReader struct{ c *conn }

func (r socketReader) Read(p []byte) (int, error) {
	c := r.c
	for {
		d := c.readDeadline()
		if !d.Equal(c.setDeadline) {
			c.tcp.SetReadDeadline(d)
			c.setDeadline = d
			// An overload that started or ended while d was computed
			// may have had its interrupt undone by this deadline:
			// look again.
			if !c.readDeadline().Equal(d) {
				continue
			}
		}
		// Checked after the deadline is set: Shutdown sets the flag, then
		// moves the deadline to now, so one of the two stops an idle read.
		if c.srv.inShutdown.Load() && c.idle() {
			return 0, errShutdown
		}
		n, err := c.rw.Read(p)
		if n > 0 && bytes.IndexByte(p[:n], '\n') >= 0 {
			c.lineStart = time.Now()
		}
		if err != nil && isTimeout(err) && time.Now().Before(d) {
			// interrupt moved the deadline: Shutdown to stop an idle
			// read (this one is not idle, or no longer), or the
			// overload to change the timeout. Set it again and go on.
			c.setDeadline = time.Time{}
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (c *conn) readDeadline() time.Time {
	d := c.lineStart.Add(c.srv.activeReadTimeout())
	if c.inData && c.dataEnd.Before(d) {
		d = c.dataEnd
	}
	if c.sessionEnd.Before(d) {
		d = c.sessionEnd
	}
	return d
}

// timeoutReply says which deadline ran out.
func (c *conn) timeoutReply() *Error {
	now := time.Now()
	switch {
	case !now.Before(c.sessionEnd):
		return Errorf(421, EnhancedCode{4, 4, 2}, "%s Session too long, closing connection", c.srv.hostname())
	case c.inData && !now.Before(c.dataEnd):
		return Errorf(421, EnhancedCode{4, 4, 2}, "%s Message transfer took too long, closing connection", c.srv.hostname())
	}
	if now.Before(c.lineStart.Add(c.srv.readTimeout())) {
		// Only the overload's shorter timeout can have run out.
		return Errorf(421, EnhancedCode{4, 4, 2}, "%s Timeout waiting for a line (server busy), closing connection", c.srv.hostname())
	}
	return Errorf(421, EnhancedCode{4, 4, 2}, "%s Timeout waiting for a line, closing connection", c.srv.hostname())
}

// idle reports whether the session waits for a command outside a transaction.
func (c *conn) idle() bool { return !c.inData && c.env == nil }

// Read gives go-smtp the next command that passed the checks, one per call.
func (c *conn) Read(p []byte) (int, error) {
	if c.out == "" {
		switch {
		case c.synthEnd:
			c.synthEnd = false
			c.out = ".\r\n"
		default:
			line, err := c.nextCommand()
			if err != nil {
				c.releaseReader()
				return 0, err
			}
			c.out = line
		}
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
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

// releaseReader gives the buffered reader back to readerPool. It runs on
// the goroutine that serves the connection, the only one that reads c.br,
// once nextCommand has ended the session: go-smtp reads no more after
// io.EOF, c.closing is set so that nextCommand would not read again, and
// the last dataReader has drained to its end and reads no more.
func (c *conn) releaseReader() {
	if c.br == nil || !c.closing {
		return
	}
	c.br.Reset(nil)
	readerPool.Put(c.br)
	c.br = nil
}

// Write takes go-smtp's output: the greeting, then one reply line per call.
func (c *conn) Write(p []byte) (int, error) {
	if c.closing {
		return len(p), nil
	}
	if !c.greeted {
		c.greeted = true
		c.greet()
		return len(p), nil
	}
	c.reply = append(c.reply, p...)
	if finalLine(c.reply) {
		c.flushReply()
	}
	return len(p), nil
}

// finalLine reports whether reply ends with the last line of a reply:
// "250 text\r\n" rather than "250-text\r\n".
func finalLine(reply []byte) bool {
	n := len(reply)
	if n == 0 || reply[n-1] != '\n' {
		return false
	}
	line := reply[bytes.LastIndexByte(reply[:n-1], '\n')+1:]
	return len(line) < 4 || line[3] != '-'
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
		c.srv.releaseSlot(c.clientKey)
	}
}

// interrupt stops a read blocked waiting for the client, which then sets
// its deadline again (see socketReader). Called from other goroutines by
// Shutdown and when the overload starts or ends. A TLS handshake is left
// alone: its deadline was set when it began, and the read after it sets
// the deadline in force.
func (c *conn) interrupt() {
	c.interruptMu.Lock()
	defer c.interruptMu.Unlock()
	if !c.handshaking {
		c.tcp.SetReadDeadline(time.Now())
	}
}

func (c *conn) LocalAddr() net.Addr  { return c.tcp.LocalAddr() }
func (c *conn) RemoteAddr() net.Addr { return c.tcp.RemoteAddr() }

// The deadline setters are go-smtp's; the conn keeps its own deadlines.
func (c *conn) SetDeadline(time.Time) error      { return nil }
func (c *conn) SetReadDeadline(time.Time) error  { return nil }
func (c *conn) SetWriteDeadline(time.Time) error { return nil }

// greet runs before the greeting: the caps, the shutdown and the Connect
// handler may refuse the client.
func (c *conn) greet() {
	now := time.Now()
	c.lineStart, c.sessionEnd = now, now.Add(c.srv.sessionTimeout())
	switch {
	case c.refusal != nil:
		c.closeWith(c.refusal, nil)
		return
	case c.srv.inShutdown.Load():
		c.closeWith(errShuttingDown(c.srv), nil)
		return
	}
	if h := c.srv.Connect; h != nil {
		err := c.call(func() error { return h.Connect(c.ctx, &c.info) })
		if c.closing {
			return
		}
		if err != nil {
			reply := asReply(err)
			if reply == errInternal {
				reply = errConnectInternal
			}
			c.closeWith(reply, err)
			return
		}
	}
	c.send(fmt.Appendf(nil, "220 %s ESMTP ready\r\n", c.srv.hostname()))
}

// nextCommand reads command lines until one is for go-smtp, answering the
// others itself. It returns io.EOF once the connection is to end.
func (c *conn) nextCommand() (string, error) {
	for {
		if c.closing {
			return "", io.EOF
		}
		if c.srv.inShutdown.Load() && c.env == nil {
			c.closeWith(errShuttingDown(c.srv), nil)
			return "", io.EOF
		}
		line, err := c.readCommandLine()
		switch {
		case err == nil:
		case errors.Is(err, errLineTooLong):
			c.respond(Errorf(500, EnhancedCode{5, 5, 2}, "Line too long (at most %d octets)", maxCommandLine), nil)
			continue
		case errors.Is(err, errShutdown):
			c.closeWith(errShuttingDown(c.srv), nil)
			return "", io.EOF
		case isTimeout(err):
			c.closeWith(c.timeoutReply(), err)
			return "", io.EOF
		default:
			c.logger().Debug("connection ended", "err", err)
			c.closing = true
			c.Close()
			return "", io.EOF
		}
		if pass := c.command(line); pass != "" {
			return pass, nil
		}
	}
}

// readCommandLine returns the next line without its CRLF (or bare LF,
// which commands may end in). A line longer than maxCommandLine is read to
// its end and dropped.
func (c *conn) readCommandLine() (string, error) {
	line, err := c.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull || err == nil && len(line) > maxCommandLine {
		for err == bufio.ErrBufferFull {
			_, err = c.br.ReadSlice('\n')
		}
		if err != nil {
			return "", err
		}
		return "", errLineTooLong
	}
	if err != nil {
		return "", err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return string(line), nil
}

// command checks one command line. It answers it itself and returns "", or
// returns the line go-smtp is to get.
func (c *conn) command(line string) string {
	if err := checkCommandLine(line); err != nil {
		c.respond(Errorf(501, EnhancedCode{5, 5, 2}, "Syntax error: %v", err), nil)
		return ""
	}
	verb, arg := splitCommand(line)
	c.lastVerb = verb
	srv := c.srv
	switch verb {
	case "EHLO", "HELO":
		name, err := parseHelo(arg)
		if err != nil {
			c.respond(Errorf(501, EnhancedCode{5, 5, 4}, "Syntax error in %s: %v", verb, err), nil)
			return ""
		}
		// RFC 5321 §4.1.4: EHLO ends the open transaction as RSET does.
		c.endEmptyTransaction()
		// The first EHLO after STARTTLS is required (RFC 3207 §4.2), not junk.
		if c.info.Helo != "" && c.junk() {
			return ""
		}
		c.info.Helo, c.info.esmtp = name, verb == "EHLO"
		c.env = nil
		return verb + " " + name + "\r\n"
	case "MAIL":
		switch {
		case c.info.Helo == "":
			c.respond(Errorf(503, EnhancedCode{5, 5, 1}, "Send EHLO first"), nil)
			return ""
		case c.env != nil:
			c.respond(Errorf(503, EnhancedCode{5, 5, 1}, "Nested MAIL command: a transaction is already open"), nil)
			return ""
		}
		m, reply := parseMail(arg)
		if reply == nil && !c.info.esmtp && (m.size != 0 || m.body != "" || m.smtputf8) {
			reply = Errorf(555, EnhancedCode{5, 5, 4}, "MAIL parameters need EHLO")
		}
		if reply == nil && srv.maxMessageBytes() > 0 && m.size > srv.maxMessageBytes() {
			reply = Errorf(552, EnhancedCode{5, 3, 4}, "Message size exceeds fixed maximum message size (%d)", srv.maxMessageBytes())
		}
		if reply != nil {
			c.respond(reply, nil)
			return ""
		}
		if c.emptyTxCount >= srv.maxEmptyTransactions() {
			c.closeWith(Errorf(421, EnhancedCode{4, 7, 0}, "%s Too many transactions without a message, closing connection", srv.hostname()), nil)
			return ""
		}
		c.emptyTxCount++
		c.pendingMail = &m
		// go-smtp's parser is more lenient than ours and splits quoted
		// local parts at the wrong "@": it gets a stand-in path, and
		// Session.Mail uses what was parsed here.
		return "MAIL FROM:<>\r\n"
	case "RCPT":
		switch {
		case c.env == nil:
			c.respond(Errorf(503, EnhancedCode{5, 5, 1}, "Send MAIL first"), nil)
			return ""
		case len(c.env.Rcpt) >= srv.maxRecipients():
			c.respond(Errorf(452, EnhancedCode{4, 5, 3}, "Too many recipients (at most %d)", srv.maxRecipients()), nil)
			return ""
		}
		to, reply := parseRcpt(arg, c.env.SMTPUTF8)
		if reply != nil {
			c.respond(reply, nil)
			return ""
		}
		c.pendingRcpt = to
		return "RCPT TO:<rcpt@ownmx.invalid>\r\n"
	case "DATA":
		switch {
		case arg != "":
			c.respond(Errorf(501, EnhancedCode{5, 5, 4}, "DATA takes no argument"), nil)
		case c.env == nil:
			c.respond(Errorf(503, EnhancedCode{5, 5, 1}, "Send MAIL and RCPT first"), nil)
		case len(c.env.Rcpt) == 0:
			c.respond(Errorf(554, EnhancedCode{5, 5, 1}, "No valid recipients"), nil)
		default:
			return "DATA\r\n"
		}
		return ""
	case "RSET":
		c.endEmptyTransaction()
		if c.junk() {
			return ""
		}
		return "RSET\r\n"
	case "NOOP":
		if !c.junk() {
			c.respond(&Error{Code: 250, Enhanced: EnhancedCode{2, 0, 0}, Message: "OK"}, nil)
		}
	case "VRFY":
		if !c.junk() {
			c.respond(&Error{Code: 252, Enhanced: EnhancedCode{2, 5, 0}, Message: "Cannot VRFY user, but will accept message and attempt delivery"}, nil)
		}
	case "HELP":
		if !c.junk() {
			c.respond(&Error{Code: 214, Enhanced: EnhancedCode{2, 0, 0}, Message: "See RFC 5321"}, nil)
		}
	case "EXPN":
		if !c.junk() {
			c.respond(Errorf(502, EnhancedCode{5, 5, 1}, "EXPN is not supported"), nil)
		}
	case "QUIT":
		c.closeWith(&Error{Code: 221, Enhanced: EnhancedCode{2, 0, 0}, Message: srv.hostname() + " Bye"}, nil)
	case "STARTTLS":
		c.startTLS(arg)
	case "AUTH":
		if srv.TLSConfig != nil && c.info.TLS == nil {
			c.respond(Errorf(530, EnhancedCode{5, 7, 0}, "Must issue a STARTTLS command first"), nil)
		} else {
			c.respond(Errorf(502, EnhancedCode{5, 5, 1}, "AUTH is not offered: this server only receives mail for its own domains"), nil)
		}
	case "BDAT":
		// CHUNKING is not offered; the chunk that follows cannot be told
		// from commands, so the session ends.
		c.closeWith(Errorf(502, EnhancedCode{5, 5, 1}, "BDAT is not supported (CHUNKING is not offered), closing connection"), nil)
	case "GET", "POST", "HEAD", "PUT", "CONNECT", "OPTIONS":
		c.closeWith(Errorf(421, EnhancedCode{4, 7, 0}, "%s This is an SMTP server", srv.hostname()), nil)
	default:
		c.respond(Errorf(500, EnhancedCode{5, 5, 1}, "Command not recognized"), nil)
	}
	return ""
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
		c.closeWith(Errorf(421, EnhancedCode{4, 7, 0}, "%s Too many commands that do nothing, closing connection", c.srv.hostname()), nil)
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
		c.respond(Errorf(502, EnhancedCode{5, 5, 1}, "STARTTLS is not offered"), nil)
		return
	case c.info.TLS != nil:
		c.respond(Errorf(503, EnhancedCode{5, 5, 1}, "TLS is already active"), nil)
		return
	case arg != "":
		c.respond(Errorf(501, EnhancedCode{5, 5, 4}, "STARTTLS takes no argument"), nil)
		return
	case c.env != nil:
		c.respond(Errorf(503, EnhancedCode{5, 5, 1}, "STARTTLS is not allowed inside a transaction"), nil)
		return
	}
	if !c.send([]byte("220 2.0.0 Ready to start TLS\r\n")) {
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

func (c *conn) setHandshaking(on bool) {
	c.interruptMu.Lock()
	c.handshaking = on
	c.interruptMu.Unlock()
}

// flushReply sends a reply go-smtp finished writing, with our text where
// go-smtp's is wrong or vague.
func (c *conn) flushReply() {
	reply := c.reply
	c.reply = c.reply[:0]
	code, _ := strconv.Atoi(string(reply[:3]))
	if code == 250 {
		switch c.lastVerb {
		case "EHLO":
			reply = c.ehloReply()
		case "HELO":
			reply = fmt.Appendf(nil, "250 %s Hello %s\r\n", c.srv.hostname(), c.info.Helo)
		case "MAIL":
			reply = []byte("250 2.1.0 Sender OK\r\n")
		case "RCPT":
			reply = []byte("250 2.1.5 Recipient OK\r\n")
		}
	}
	err := c.replyErr
	c.replyErr = nil
	c.sendReply(reply, code, err)
}

// ehloReply lists what this server offers (RFC 5321 §4.1.1.1). It replaces
// go-smtp's list: go-smtp offers CHUNKING, which ownmx does not take, and
// puts no domain first.
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

// respond sends our reply to a command.
func (c *conn) respond(e *Error, cause error) {
	c.sendReply(formatReply(e), e.Code, cause)
}

// sendReply sends a reply to a command, logs a refusal and ends the session
// after too many of them.
func (c *conn) sendReply(reply []byte, code int, cause error) {
	if code >= 400 {
		c.errCount++
		c.logRefusal(reply, cause)
	}
	if !c.send(reply) {
		return
	}
	if code >= 400 && c.errCount > c.srv.maxErrors() {
		c.closeWith(Errorf(421, EnhancedCode{4, 7, 0}, "%s Too many errors, closing connection", c.srv.hostname()), nil)
		return
	}
	// A transaction refused at MAIL or at the end of DATA was counted as
	// junk before this reply.
	c.tooMuchJunk()
}

func (c *conn) logRefusal(reply []byte, cause error) {
	attrs := []any{"helo", c.info.Helo, "cmd", c.lastVerb, "reply", strings.TrimSpace(string(reply))}
	if c.env != nil {
		attrs = append(attrs, "from", c.env.From)
	}
	if e, ok := cause.(*Error); cause != nil && (!ok || e.Err != nil) {
		attrs = append(attrs, "err", cause)
	}
	// A refusal is the server's policy working and is logged at INFO; a
	// handler that failed (a database down) or a disk nearly full is the
	// operator's problem and is logged at WARN so that it stands out.
	level := slog.LevelInfo
	var fault *serverFault
	if errors.As(cause, &fault) {
		level = slog.LevelWarn
	}
	c.logger().Log(context.Background(), level, "refused", attrs...)
}

// serverFault marks an error of the server's own, such as a handler's error
// that is not an *Error: the client is answered 451 4.3.0 (or 421 before
// the greeting) and the log gets the cause at WARN. As the Err of an
// *Error it has that reply logged at WARN.
type serverFault struct{ err error }

func (f *serverFault) Error() string { return f.err.Error() }
func (f *serverFault) Unwrap() error { return f.err }

// asFault marks err as a serverFault unless it is (or wraps) an *Error, a
// reply the handler chose.
func asFault(err error) error {
	var e *Error
	if err == nil || errors.As(err, &e) {
		return err
	}
	return &serverFault{err}
}

// closeWith sends a last reply and closes the connection.
func (c *conn) closeWith(e *Error, cause error) {
	if c.closing {
		return
	}
	c.closing = true
	c.release()
	if e.Code >= 400 {
		c.logRefusal(formatReply(e), cause)
	}
	if c.send(formatReply(e)) && e.Code >= 400 {
		c.linger()
	}
	c.Close()
}

// Bounds of linger.
const (
	lingerTime  = time.Second
	lingerBytes = 64 << 10
)

// linger half-closes the connection after a last reply and reads what the
// client is still sending, for a short while, before the close. A client
// cut off in mid-stream would otherwise get a reset as its next bytes
// arrive, and a reset can destroy the reply it has not read yet.
func (c *conn) linger() {
	tc, ok := c.tcp.(*net.TCPConn)
	if !ok {
		return
	}
	tc.CloseWrite()
	tc.SetReadDeadline(time.Now().Add(lingerTime))
	io.CopyN(io.Discard, tc, lingerBytes)
}

// send writes to the client under the write timeout. A failed write ends
// the session.
func (c *conn) send(b []byte) bool {
	c.tcp.SetWriteDeadline(time.Now().Add(c.srv.writeTimeout()))
	_, err := c.rw.Write(b)
	c.lineStart = time.Now()
	if err != nil {
		c.logger().Debug("write failed", "err", err)
		c.closing = true
		c.Close()
		return false
	}
	return true
}

func formatReply(e *Error) []byte {
	return fmt.Appendf(nil, "%d %s %s\r\n", e.Code, e.Enhanced, e.Message)
}

func errShuttingDown(s *Server) *Error {
	return Errorf(421, EnhancedCode{4, 3, 2}, "%s Service shutting down, try again later", s.hostname())
}

// errConnectInternal answers a Connect handler's error that is not an
// *Error: only 220, 554 and 421 may answer a connection (RFC 5321 §4.3.2).
var errConnectInternal = &Error{Code: 421, Enhanced: EnhancedCode{4, 3, 0}, Message: "Temporary server error, try again later"}

// call runs a handler. A panic is logged with its stack and ends the
// session with 421, never the server. An error that is not an *Error comes
// back marked as a serverFault.
func (c *conn) call(h func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			c.logger().Error("handler panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			c.closeWith(Errorf(421, EnhancedCode{4, 3, 0}, "%s Internal server error, closing connection", c.srv.hostname()), errPanic)
			err = errPanic
		}
	}()
	return asFault(h())
}

// toGoSMTP turns a handler's error into the reply go-smtp is to write,
// keeping the cause for the log.
func (c *conn) toGoSMTP(err error) error {
	e := asReply(err)
	c.replyErr = err
	return &smtp.SMTPError{Code: e.Code, EnhancedCode: smtp.EnhancedCode(e.Enhanced), Message: e.Message}
}

// Reset ends the open transaction (smtp.Session).
func (c *conn) Reset() { c.env = nil }

// Logout is called by go-smtp when the connection ends (smtp.Session).
func (c *conn) Logout() error { return nil }

// Mail starts a transaction with what nextCommand parsed (smtp.Session).
func (c *conn) Mail(string, *smtp.MailOptions) error {
	m := c.pendingMail
	c.pendingMail = nil
	if m == nil {
		return c.toGoSMTP(Errorf(503, EnhancedCode{5, 5, 1}, "Bad sequence of commands"))
	}
	if err := c.checkFreeSpace(m.size); err != nil {
		c.junkCount++ // the transaction ended at once, without a message
		return c.toGoSMTP(err)
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
	if h := c.srv.Mail; h != nil {
		if err := c.call(func() error { return h.Mail(c.ctx, env) }); err != nil {
			c.junkCount++ // the transaction ended at once, without a message
			return c.toGoSMTP(err)
		}
	}
	c.env = env
	return nil
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
	err := c.call(func() (err error) {
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

// Rcpt asks the Rcpt handler about the address nextCommand parsed
// (smtp.Session). A recipient given twice is accepted once.
func (c *conn) Rcpt(string, *smtp.RcptOptions) error {
	to, env := c.pendingRcpt, c.env
	if env == nil {
		return c.toGoSMTP(Errorf(503, EnhancedCode{5, 5, 1}, "Send MAIL first"))
	}
	for _, r := range env.Rcpt {
		if r == to {
			return nil
		}
	}
	if err := c.call(func() error { return c.srv.Rcpt.Rcpt(c.ctx, env, to) }); err != nil {
		return c.toGoSMTP(err)
	}
	env.Rcpt = append(env.Rcpt, to)
	return nil
}

// Data reads the message from the socket and gives it to the Data handler
// (smtp.Session). go-smtp's reader is not used: go-smtp then reads an empty
// message and writes the reply returned here.
func (c *conn) Data(io.Reader) error {
	env := c.env
	now := time.Now()
	c.inData, c.dataEnd = true, now.Add(c.srv.dataTimeout())
	defer func() { c.inData = false }()

	dr := newDataReader(c.br, c.srv.maxMessageBytes(), c.srv.maxReceivedHeaders())
	msg := &messageReader{head: receivedHeader(c.srv.hostname(), env, now), dr: dr}
	herr := c.call(func() error { return c.srv.Data.Data(c.ctx, env, msg) })
	if c.closing {
		return herr
	}
	if err := dr.drain(); err != nil {
		// The client's text stopped inside the message: what follows
		// cannot be trusted to be commands.
		reply := Errorf(421, EnhancedCode{4, 4, 2}, "%s Connection error inside DATA, closing connection", c.srv.hostname())
		if isTimeout(err) {
			reply = c.timeoutReply()
		}
		c.closeWith(reply, err)
		return err
	}
	c.synthEnd = true
	switch {
	case dr.refused != nil:
		c.endEmptyTransaction()
		return c.toGoSMTP(dr.refused)
	case herr != nil:
		c.endEmptyTransaction()
		return c.toGoSMTP(herr)
	}
	c.errCount, c.junkCount, c.emptyTxCount = 0, 0, 0
	if c.srv.logger().Enabled(context.Background(), slog.LevelInfo) {
		c.logger().Info("message accepted", "helo", c.info.Helo, "id", env.ID, "from", env.From, "rcpt", env.Rcpt, "size", dr.n)
	}
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "OK: queued as " + env.ID}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}
