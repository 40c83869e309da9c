package smtpd

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"os"
	"sync"
	"time"
)

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
)

// socketReader reads the socket under the connection's deadlines. Each line
// must arrive whole within ReadTimeout (OverloadReadTimeout while the server
// is overloaded) of its start, a line starting when the previous one ended
// or when the server last replied; a byte now and then does not renew it.
// DataTimeout bounds the whole message and SessionTimeout the whole session.
//
// It is what the connection's bufio.Reader reads from, which it does only
// when the lines it holds are used up: so the replies waiting in the
// buffer are sent first (flush), or the client would wait for them while
// the server waits for the client.
//
// Other goroutines stop a read with interrupt, which moves the deadline to
// now, after changing what the deadline depends on (Shutdown, the overload
// starting or ending): the read then times out before its deadline, and
// socketReader sets the deadline again and goes on.
type socketReader struct{ c *conn }

func (r socketReader) Read(p []byte) (int, error) {
	c := r.c
	if err := c.flush(); err != nil {
		return 0, err
	}
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
	if !c.proxyEnd.IsZero() && c.proxyEnd.Before(d) {
		d = c.proxyEnd
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

func (c *conn) setHandshaking(on bool) {
	c.interruptMu.Lock()
	c.handshaking = on
	c.interruptMu.Unlock()
}

// readCommandLine returns the next line without its CRLF (or bare LF,
// which commands may end in). A line longer than maxCommandLine is read to
// its end and dropped, and errLineTooLong returned.
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

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}
