package send

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// errTooMuch ends a connection on which the server sent more than
// maxReplyBytes.
var errTooMuch = errors.New("the server sent more than " + strconv.Itoa(maxReplyBytes>>20) + " MiB of replies")

// startTLS sends STARTTLS over c's connection and makes the TLS
// handshake (RFC 3207). It returns a client for the session under TLS
// and its TLS version, or no client and no error when the server refused
// STARTTLS and TLS is only opportunistic: the session goes on in clear
// text.
//
// go-smtp starts TLS only in NewClientStartTLS, which says EHLO
// "localhost" before: so STARTTLS is sent here, after go-smtp's EHLO with
// the Sender's Hostname, and a new client is made on the TLS connection.
// go-smtp's reader holds nothing unread then, as servers send nothing
// after the EHLO reply; and anything sent after the 220 to STARTTLS is
// dropped, never read as a reply under TLS (the client side of
// CVE-2011-0411).
func (s *session) startTLS(ctx context.Context, plain *smtp.Client) (*smtp.Client, string, *Error) {
	d := s.d
	cmdTimeout := timeout(d.s.CommandTimeout, DefaultCommandTimeout)
	s.raw.SetDeadline(time.Now().Add(cmdTimeout))
	if _, err := io.WriteString(s.conn, "STARTTLS\r\n"); err != nil {
		return nil, "", s.fail(ctx, CommandSTARTTLS, err)
	}
	code, msg, err := textproto.NewReader(bufio.NewReader(s.conn)).ReadResponse(220)
	if err != nil {
		var te *textproto.Error
		if !errors.As(err, &te) {
			return nil, "", s.fail(ctx, CommandSTARTTLS, err)
		}
		e := s.fail(ctx, CommandSTARTTLS, replyError(code, msg))
		if d.policy != nil {
			return nil, "", s.stsFail(CommandSTARTTLS, "STARTTLS refused: "+strconv.Itoa(code)+" "+cleanText(msg), nil)
		}
		s.log.Info("send: STARTTLS refused; going on without TLS", "err", e.Error())
		s.raw.SetDeadline(time.Time{})
		return nil, "", nil
	}

	tc := tls.Client(s.conn, s.tlsConfig())
	hctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	err = tc.HandshakeContext(hctx)
	cancel()
	s.raw.SetDeadline(time.Time{})
	if err != nil {
		if d.policy != nil && ctx.Err() == nil {
			return nil, "", s.stsFail(CommandSTARTTLS, "TLS handshake failed (a certificate valid for "+s.host+" is required)", err)
		}
		e := s.fail(ctx, CommandSTARTTLS, err)
		if ctx.Err() == nil {
			e.Message = "TLS handshake failed"
			e.retryPlain = true
		}
		return nil, "", e
	}
	state := tc.ConnectionState()
	c := s.client(&greetedConn{Conn: tc, greeting: []byte("220 " + s.host + " TLS started\r\n")})
	s.c = c
	if err := c.Hello(d.s.Hostname); err != nil {
		return nil, "", s.fail(ctx, CommandEHLO, err)
	}
	return c, tls.VersionName(state.Version), nil
}

// tlsConfig returns the TLS configuration for the host: verified against
// its name under an MTA-STS policy in enforce mode (RFC 8461 §4.2), not
// verified otherwise (RFC 7435: any TLS beats clear text).
func (s *session) tlsConfig() *tls.Config {
	var cfg *tls.Config
	if s.d.s.TLSConfig != nil {
		cfg = s.d.s.TLSConfig.Clone()
	} else {
		cfg = &tls.Config{}
	}
	cfg.ServerName = s.host
	cfg.InsecureSkipVerify = s.d.policy == nil
	return cfg
}

// replyError makes a go-smtp reply error of a reply read here, with its
// enhanced status code split off as go-smtp does.
func replyError(code int, msg string) *smtp.SMTPError {
	e := &smtp.SMTPError{Code: code, Message: msg}
	first, rest, ok := strings.Cut(msg, " ")
	if !ok {
		return e
	}
	parts := strings.Split(first, ".")
	if len(parts) != 3 {
		return e
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return e
		}
		e.EnhancedCode[i] = n
	}
	e.Message = rest
	return e
}

// watchedConn is the TCP connection as the session uses it: it notes
// whether anything was written (a failure before is the greeting's), and
// cuts off a server that sends more than maxReplyBytes.
type watchedConn struct {
	net.Conn
	readLeft int
	wrote    bool
}

func (c *watchedConn) Read(p []byte) (int, error) {
	if c.readLeft <= 0 {
		return 0, errTooMuch
	}
	if len(p) > c.readLeft {
		p = p[:c.readLeft]
	}
	n, err := c.Conn.Read(p)
	c.readLeft -= n
	return n, err
}

func (c *watchedConn) Write(p []byte) (int, error) {
	c.wrote = true
	return c.Conn.Write(p)
}

// greetedConn hands go-smtp a greeting before what the connection reads:
// a go-smtp client reads one when it starts, and a server sends none
// after STARTTLS.
type greetedConn struct {
	net.Conn
	greeting []byte
}

func (c *greetedConn) Read(p []byte) (int, error) {
	if len(c.greeting) > 0 {
		n := copy(p, c.greeting)
		c.greeting = c.greeting[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
