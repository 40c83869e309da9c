// Package smtptest runs an smtpd.Server inside a test and talks to it, as
// net/http/httptest does for HTTP: Start serves on 127.0.0.1 until the test
// ends; Send delivers a message as an MTA would, with options for the HELO
// name, the source address, STARTTLS and pipelining, and returns refusals
// as *smtpd.Error values; Dial holds a scripted SMTP conversation line by
// line.
package smtptest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ownmx/ownmx/smtpd"
)

// Server is an smtpd.Server serving on a loopback port, as
// httptest.Server is for HTTP.
type Server struct {
	// Addr is the host:port the server listens on.
	Addr string

	srv  *smtpd.Server
	done chan error
}

// NewServer serves srv on a free port of 127.0.0.1 until Close. A srv
// without a Logger gets one that discards. It panics if it cannot listen,
// as httptest.NewServer does.
func NewServer(srv *smtpd.Server) *Server {
	if srv.Logger == nil {
		srv.Logger = slog.New(slog.DiscardHandler)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic("smtptest: listen: " + err.Error())
	}
	s := &Server{Addr: l.Addr().String(), srv: srv, done: make(chan error, 1)}
	go func() { s.done <- srv.Serve(l) }()
	return s
}

// Close stops the server (smtpd.Server.Close) and waits for Serve to
// return. It returns Serve's error, if it was other than ErrServerClosed.
func (s *Server) Close() error {
	s.srv.Close()
	if err := <-s.done; !errors.Is(err, smtpd.ErrServerClosed) {
		return err
	}
	return nil
}

// Start serves srv on a free port of 127.0.0.1 until the test ends and
// returns its address.
func Start(t testing.TB, srv *smtpd.Server) string {
	t.Helper()
	s := NewServer(srv)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("smtptest: Serve: %v", err)
		}
	})
	return s.Addr
}

// Reply is one SMTP reply: its code and its lines of text (without the code).
type Reply struct {
	Code  int
	Lines []string
}

// String returns the reply as the client read it, lines joined by newlines.
func (r Reply) String() string {
	var b strings.Builder
	for i, l := range r.Lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%d %s", r.Code, l)
	}
	return b.String()
}

// Last returns the last line of the reply with its code, "250 2.0.0 OK".
func (r Reply) Last() string {
	if len(r.Lines) == 0 {
		return strconv.Itoa(r.Code)
	}
	return strconv.Itoa(r.Code) + " " + r.Lines[len(r.Lines)-1]
}

// Client is a raw SMTP conversation for tests: send exact lines or bytes,
// read replies. Every read and write has a deadline so a test cannot hang.
type Client struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
	// Timeout bounds each read and write; default 10 seconds.
	Timeout time.Duration
}

// Dial connects to addr; the connection is closed when the test ends.
func Dial(t testing.TB, addr string) *Client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("smtptest: dial %s: %v", addr, err)
	}
	return NewClient(t, conn)
}

// NewClient holds a conversation on conn, such as a *tls.Conn made after
// STARTTLS; conn is closed when the test ends.
func NewClient(t testing.TB, conn net.Conn) *Client {
	t.Cleanup(func() { conn.Close() })
	return &Client{t: t, conn: conn, br: bufio.NewReader(conn), Timeout: 10 * time.Second}
}

// Conn returns the underlying connection.
func (c *Client) Conn() net.Conn { return c.conn }

// WriteRaw sends s exactly as given.
func (c *Client) WriteRaw(s string) error {
	c.conn.SetWriteDeadline(time.Now().Add(c.Timeout))
	_, err := io.WriteString(c.conn, s)
	return err
}

// Cmd sends line followed by CRLF and reads one reply; it fails the test
// if the reply cannot be read.
func (c *Client) Cmd(line string) Reply {
	c.t.Helper()
	if err := c.WriteRaw(line + "\r\n"); err != nil {
		c.t.Fatalf("smtptest: send %q: %v", line, err)
	}
	r, err := c.ReadReply()
	if err != nil {
		c.t.Fatalf("smtptest: reply to %q: %v", line, err)
	}
	return r
}

// ReadReply reads one reply, all its lines.
func (c *Client) ReadReply() (Reply, error) {
	var r Reply
	c.conn.SetReadDeadline(time.Now().Add(c.Timeout))
	for {
		line, err := c.br.ReadString('\n')
		if err != nil {
			return r, err
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 3 {
			return r, fmt.Errorf("smtptest: malformed reply line %q", line)
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil {
			return r, fmt.Errorf("smtptest: malformed reply line %q", line)
		}
		r.Code = code
		text, more := "", false
		if len(line) > 3 {
			text, more = line[4:], line[3] == '-'
		}
		r.Lines = append(r.Lines, text)
		if !more {
			return r, nil
		}
	}
}

// Closed reports whether the server has closed the connection: a read
// gets EOF or a reset rather than more data.
func (c *Client) Closed() bool {
	c.conn.SetReadDeadline(time.Now().Add(c.Timeout))
	_, err := c.br.ReadByte()
	return err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
