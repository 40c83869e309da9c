package smtpd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"
)

// writeBufferSize is the size of the buffer replies are gathered in. The
// replies to a pipelined group of commands (RFC 2920) fit in it and go out
// in one write, one TLS record.
const writeBufferSize = 4 << 10

// writerPool holds the reply buffers of ended connections.
var writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, writeBufferSize) }}

// socketWriter writes to the client under WriteTimeout, whatever the
// connection is now: TCP, or TLS after STARTTLS.
type socketWriter struct{ c *conn }

func (w socketWriter) Write(p []byte) (int, error) {
	w.c.tcp.SetWriteDeadline(time.Now().Add(w.c.srv.writeTimeout()))
	return w.c.rw.Write(p)
}

// reply answers the command being served (c.verb) with e. A reply of 400
// or more counts against MaxErrors and is logged with cause, if any; a 421
// is the last reply of the session, which then closes (RFC 5321 §3.8).
// The reply is buffered: it goes out with the replies after it when the
// client has already sent the next command (see flush).
func (c *conn) reply(e *Error, cause error) {
	if e.Code == 421 {
		c.closeWith(CloseRefused, e, cause)
		return
	}
	if e.Code >= 400 {
		c.errCount++
		c.logRefusal(e, cause)
	}
	c.observeReply(e)
	c.write(formatReply(e))
	if c.closing {
		return
	}
	if e.Code >= 400 && c.errCount > c.srv.maxErrors() {
		c.closeWith(CloseLimit, Errorf(421, EnhancedCode{4, 7, 0}, "%s Too many errors, closing connection", c.srv.hostname()), nil)
		return
	}
	// A transaction refused at MAIL or at the end of DATA was counted as
	// junk before this reply; the client hears the reply, then the 421.
	c.tooMuchJunk()
}

// replyOK answers the command being served with a success reply.
func (c *conn) replyOK(code int, enhanced EnhancedCode, text string) {
	c.reply(&Error{Code: code, Enhanced: enhanced, Message: text}, nil)
}

// handlerReply returns the reply to a handler's error: the *Error it is or
// wraps, or errInternal. A handler cannot make a refusal succeed: a code
// outside 400 to 599 is the handler's bug, answered as an internal error
// and logged at WARN.
func handlerReply(err error) (*Error, error) {
	e := asReply(err)
	if e.Code < 400 || e.Code > 599 {
		return errInternal, &serverFault{fmt.Errorf("handler refused with reply code %d, which is not a refusal: %w", e.Code, err)}
	}
	return e, err
}

// write adds b to the replies to send. A failed write ends the session.
func (c *conn) write(b []byte) {
	if c.closing {
		return
	}
	if _, err := c.bw.Write(b); err != nil {
		c.writeFailed(err)
	}
}

// flush sends the buffered replies. It runs before every read that would
// wait for the client (socketReader), so replies wait in the buffer only
// while the client has already sent the next whole command, and before a
// TLS handshake and the close.
func (c *conn) flush() error {
	if c.bw.Buffered() == 0 {
		return nil
	}
	err := c.bw.Flush()
	c.lineStart = time.Now()
	if err != nil {
		c.writeFailed(err)
	}
	return err
}

func (c *conn) writeFailed(err error) {
	c.logger().Debug("write failed", "err", err)
	if c.srv.inShutdown.Load() {
		c.setCloseReason(CloseShutdown)
	}
	c.setCloseReason(CloseNetwork)
	c.closing = true
	c.Close()
}

// closeWith sends a last reply and closes the connection, which ends for
// reason. After a refusal it lingers, so that a client still sending
// reads the reply.
func (c *conn) closeWith(reason CloseReason, e *Error, cause error) {
	if c.closing {
		return
	}
	c.setCloseReason(reason)
	c.release()
	if e.Code >= 400 {
		c.logRefusal(e, cause)
	}
	c.observeReply(e)
	c.write(formatReply(e))
	if c.flush() == nil && e.Code >= 400 {
		c.linger()
	}
	c.closing = true
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

// logRefusal writes one record for a reply of 400 or more.
func (c *conn) logRefusal(e *Error, cause error) {
	line := formatReply(e)
	attrs := []any{"helo", c.info.Helo, "cmd", c.verb, "reply", string(line[:len(line)-2])}
	if c.env != nil {
		attrs = append(attrs, "from", c.env.From)
	}
	if r, ok := cause.(*Error); cause != nil && (!ok || r.Err != nil) {
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

func formatReply(e *Error) []byte {
	b := make([]byte, 0, 16+len(e.Message))
	b = strconv.AppendInt(b, int64(e.Code), 10)
	b = append(b, ' ')
	for i, n := range e.Enhanced {
		if i > 0 {
			b = append(b, '.')
		}
		b = strconv.AppendInt(b, int64(n), 10)
	}
	b = append(b, ' ')
	b = append(b, e.Message...)
	return append(b, "\r\n"...)
}

func errShuttingDown(s *Server) *Error {
	return Errorf(421, EnhancedCode{4, 3, 2}, "%s Service shutting down, try again later", s.hostname())
}

// errConnectInternal answers a Connect handler's error that is not an
// *Error: only 220, 554 and 421 may answer a connection (RFC 5321 §4.3.2).
var errConnectInternal = &Error{Code: 421, Enhanced: EnhancedCode{4, 3, 0}, Message: "Temporary server error, try again later"}
