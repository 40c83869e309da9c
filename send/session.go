package send

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/ownmx/ownmx/smtpd"
)

// session is one SMTP connection to one address of an MX host.
type session struct {
	d    *delivery
	host string     // the MX host's name, without a final dot
	ip   netip.Addr // the address connected to
	log  *slog.Logger
	tls  bool // start TLS when the server offers it

	raw  net.Conn     // the TCP connection
	conn *watchedConn // raw, as go-smtp and TLS see it
	c    *smtp.Client // the client of the session, under TLS once started
}

// run delivers the message over one connection. It returns nil once the
// server accepted the message.
func (s *session) run(ctx context.Context) (failure *Error) {
	d := s.d
	cmdTimeout := timeout(d.s.CommandTimeout, DefaultCommandTimeout)
	if err := s.dial(ctx); err != nil {
		return err
	}
	// go-smtp has no context: its deadlines come from its own timeouts,
	// so the context's end closes the connection, which ends any read or
	// write under way.
	stop := context.AfterFunc(ctx, func() { s.raw.Close() })
	defer stop()
	defer s.raw.Close()

	c := s.client(s.conn)
	s.c = c
	defer func() {
		// A session that ends on a refusal, the server's or ours, says
		// QUIT (RFC 5321 §4.1.1.10); one whose connection failed, or
		// that the server ended with 421, is only closed.
		if failure != nil && failure.Err == nil && failure.Code != 421 && failure.Command != CommandGreeting {
			s.quit(s.c)
		}
	}()
	if err := c.Hello(d.s.Hostname); err != nil {
		if !s.conn.wrote {
			return s.fail(ctx, CommandGreeting, err)
		}
		return s.fail(ctx, CommandEHLO, err)
	}
	tlsVersion := ""
	switch starttls, _ := c.Extension("STARTTLS"); {
	case d.policy != nil && !starttls:
		return s.stsFail(CommandSTARTTLS, "STARTTLS not offered, and TLS is required", nil)
	case starttls && (s.tls || d.policy != nil):
		tc, state, err := s.startTLS(ctx, c)
		if err != nil {
			return err
		}
		if tc != nil {
			c = tc
			tlsVersion = state
		}
	}

	size := d.msg.Size()
	if d.env.utf8 {
		if ok, _ := c.Extension("SMTPUTF8"); !ok {
			return s.refuse(smtpd.EnhancedCode{5, 6, 7}, "the address is not ASCII, and the server does not offer SMTPUTF8 (RFC 6531)")
		}
	}
	if max, ok := c.MaxMessageSize(); ok && max > 0 && size > int64(max) {
		return s.refuse(smtpd.EnhancedCode{5, 3, 4}, fmt.Sprintf("the message of %d bytes is over the %d bytes the server accepts (SIZE)", size, max))
	}
	if err := c.Mail(d.env.from, &smtp.MailOptions{UTF8: d.env.utf8, Size: size}); err != nil {
		return s.fail(ctx, CommandMail, err)
	}
	if err := c.Rcpt(d.env.to, nil); err != nil {
		return s.fail(ctx, CommandRcpt, err)
	}
	w, err := c.Data()
	if err != nil {
		return s.fail(ctx, CommandData, err)
	}
	dw := &dataWriter{w: w, conn: s.raw, timeout: cmdTimeout}
	if _, err := io.Copy(dw, io.NewSectionReader(d.msg, 0, size)); err != nil {
		// The final "." must not follow a message cut short: the server
		// would take what came for the whole.
		if dw.err == nil {
			return &Error{Rcpt: d.rcpt, Host: s.host, IP: s.ip, Command: CommandData, Enhanced: smtpd.EnhancedCode{4, 3, 0},
				Message: "reading the message failed", Err: err, final: true}
		}
		return s.fail(ctx, CommandData, dw.err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return s.fail(ctx, CommandDataEnd, err)
	}
	s.log.Info("send: delivered", "tls", tlsVersion, "reply", cleanText(resp.StatusText), "size", size)
	s.quit(c)
	return nil
}

// quit ends the session with QUIT, without waiting long for the reply:
// whether it comes changes nothing.
func (s *session) quit(c *smtp.Client) {
	c.CommandTimeout = min(quitTimeout, c.CommandTimeout)
	c.Quit()
}

// dial connects to the address, port 25.
func (s *session) dial(ctx context.Context) *Error {
	dial := s.d.s.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	dctx, cancel := context.WithTimeout(ctx, timeout(s.d.s.ConnectTimeout, DefaultConnectTimeout))
	defer cancel()
	raw, err := dial(dctx, "tcp", netip.AddrPortFrom(s.ip, 25).String())
	if err != nil {
		return s.fail(ctx, CommandConnect, err)
	}
	s.raw = raw
	s.conn = &watchedConn{Conn: raw, readLeft: maxReplyBytes}
	return nil
}

// client returns a go-smtp client on conn with the Sender's timeouts.
func (s *session) client(conn net.Conn) *smtp.Client {
	c := smtp.NewClient(conn)
	c.CommandTimeout = timeout(s.d.s.CommandTimeout, DefaultCommandTimeout)
	c.SubmissionTimeout = timeout(s.d.s.DataTimeout, DefaultDataTimeout)
	return c
}

// fail makes the *Error of a failed step: a server's reply, or a
// connection that failed, timed out or was closed as the context ended.
func (s *session) fail(ctx context.Context, command string, err error) *Error {
	e := &Error{Rcpt: s.d.rcpt, Host: s.host, IP: s.ip, Command: command}
	var reply *smtp.SMTPError
	if errors.As(err, &reply) {
		e.Code, e.Message = reply.Code, cleanText(reply.Message)
		e.Enhanced = enhanced(reply.Code, reply.EnhancedCode)
		switch reply.Code / 100 {
		case 5:
			e.Permanent = true
			// A refusal of the transaction itself would come from any MX
			// host of the domain; one of the greeting or EHLO is the
			// host's own (RFC 5321 §3.1: try another).
			e.final = command == CommandMail || command == CommandRcpt || command == CommandData || command == CommandDataEnd
		case 4:
		default:
			e.Message = "unexpected reply: " + e.Message
		}
		return e
	}
	e.Err = err
	switch {
	case ctx.Err() != nil:
		e.Enhanced, e.Message = smtpd.EnhancedCode{4, 4, 1}, "gave up as the context ended"
		e.Err = fmt.Errorf("%w: %w", context.Cause(ctx), err)
	case command == CommandConnect:
		e.Enhanced, e.Message = smtpd.EnhancedCode{4, 4, 1}, "cannot connect"
	case isTimeout(err):
		e.Enhanced, e.Message = smtpd.EnhancedCode{4, 4, 2}, "timed out"
	default:
		e.Enhanced, e.Message = smtpd.EnhancedCode{4, 4, 2}, "connection failed"
	}
	return e
}

// refuse makes the *Error of a message that this server cannot take,
// found before it was sent: permanent, and no other host is tried.
func (s *session) refuse(code smtpd.EnhancedCode, message string) *Error {
	return &Error{Rcpt: s.d.rcpt, Host: s.host, IP: s.ip, Command: CommandMail, Enhanced: code, Message: message, Permanent: true, final: true}
}

// stsFail makes the *Error of a host that does not meet an MTA-STS policy
// in enforce mode: temporary, as the host may be fixed.
func (s *session) stsFail(command, why string, err error) *Error {
	return &Error{Rcpt: s.d.rcpt, Host: s.host, IP: s.ip, Command: command, Enhanced: smtpd.EnhancedCode{4, 7, 5},
		Message: "MTA-STS: the policy of " + s.d.env.domain + " (enforce) forbids this host: " + why, Err: err}
}

// enhanced returns a reply's enhanced status code, or zero when it has
// none or one whose class is not the reply's (RFC 3463 §2).
func enhanced(code int, ec smtp.EnhancedCode) smtpd.EnhancedCode {
	if ec[0] != code/100 || ec[1] < 0 || ec[1] > 999 || ec[2] < 0 || ec[2] > 999 {
		return smtpd.EnhancedCode{}
	}
	return smtpd.EnhancedCode(ec)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// dataWriter writes the message with a deadline on each write, and keeps
// the error of the first that fails.
type dataWriter struct {
	w       io.Writer
	conn    net.Conn
	timeout time.Duration
	err     error
}

func (w *dataWriter) Write(p []byte) (int, error) {
	w.conn.SetWriteDeadline(time.Now().Add(w.timeout))
	n, err := w.w.Write(p)
	if err != nil && w.err == nil {
		w.err = err
	}
	return n, err
}
