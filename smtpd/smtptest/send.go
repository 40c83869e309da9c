package smtptest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/ownmx/ownmx/smtpd"
)

// sendTimeout bounds each step of Send: a guard against a hang, not a
// measure.
const sendTimeout = 30 * time.Second

// An Option changes how Send talks to the server.
type Option func(*sendConfig)

type sendConfig struct {
	helo       string
	local      netip.Addr
	tls        *tls.Config
	pipelining bool
}

// Helo has Send introduce itself with name in EHLO; default "client.test".
func Helo(name string) Option { return func(c *sendConfig) { c.helo = name } }

// LocalAddr has Send connect from ip, an address of this machine such as
// 127.0.0.2 (all of 127.0.0.0/8 is loopback on Linux), so that a test can
// be a client from another address or network.
func LocalAddr(ip netip.Addr) Option { return func(c *sendConfig) { c.local = ip } }

// StartTLS has Send start TLS with cfg after EHLO (RFC 3207), and fail if
// the server does not offer it.
func StartTLS(cfg *tls.Config) Option { return func(c *sendConfig) { c.tls = cfg } }

// Pipelining has Send write MAIL, every RCPT and DATA at once and read
// their replies after (RFC 2920), as busy MTAs do, and fail if the server
// does not offer PIPELINING.
func Pipelining() Option { return func(c *sendConfig) { c.pipelining = true } }

// Send delivers msg from from to each of to through the server at addr:
// EHLO, MAIL, RCPT, DATA, QUIT, with go-smtp's client, or with a client of
// its own under Pipelining. msg's lines may end in LF: CRLF is sent, and
// dot-stuffing is done.
//
// The message goes to the recipients the server accepts, as an MTA sends
// it. A refusal is returned as an *smtpd.Error with the server's code,
// enhanced code and text, so that a test inspects it without go-smtp's
// types (errors.As(err, &e), then e.Code): the refusal of MAIL or DATA or
// of the message, or else of the first recipient refused.
func Send(addr, from string, to []string, msg string, opts ...Option) error {
	cfg := sendConfig{helo: "client.test"}
	for _, o := range opts {
		o(&cfg)
	}
	d := net.Dialer{Timeout: sendTimeout}
	if cfg.local.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: cfg.local.AsSlice()}
	}
	conn, err := d.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if cfg.pipelining {
		return sendPipelined(conn, cfg, from, to, msg)
	}
	return sendSerial(conn, cfg, from, to, msg)
}

// sendSerial sends with go-smtp's client, one command at a time.
func sendSerial(conn net.Conn, cfg sendConfig, from string, to []string, msg string) error {
	var c *smtp.Client
	if cfg.tls != nil {
		// go-smtp's client says "EHLO localhost" before STARTTLS; the
		// EHLO after it, the one that counts (RFC 3207 §4.2), has the name.
		conn.SetDeadline(time.Now().Add(sendTimeout))
		var err error
		if c, err = smtp.NewClientStartTLS(conn, cfg.tls); err != nil {
			return asReply(err)
		}
		conn.SetDeadline(time.Time{})
	} else {
		c = smtp.NewClient(conn)
	}
	defer c.Close()
	c.CommandTimeout, c.SubmissionTimeout = sendTimeout, sendTimeout
	if err := c.Hello(cfg.helo); err != nil {
		return asReply(err)
	}
	var mailOpts *smtp.MailOptions
	if needsUTF8(from, to) {
		mailOpts = &smtp.MailOptions{UTF8: true}
	}
	if err := c.Mail(from, mailOpts); err != nil {
		return asReply(err)
	}
	var refused error
	accepted := 0
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt, nil); err != nil {
			if refused == nil {
				refused = asReply(err)
			}
			continue
		}
		accepted++
	}
	if accepted == 0 {
		return refused
	}
	w, err := c.Data()
	if err != nil {
		return asReply(err)
	}
	if _, err := strings.NewReader(msg).WriteTo(w); err != nil {
		return asReply(err)
	}
	if err := w.Close(); err != nil {
		return asReply(err)
	}
	if err := c.Quit(); err != nil {
		return asReply(err)
	}
	return refused
}

// sendPipelined sends MAIL, the RCPTs and DATA in one write and reads
// their replies after.
func sendPipelined(conn net.Conn, cfg sendConfig, from string, to []string, msg string) error {
	conn.SetDeadline(time.Now().Add(sendTimeout))
	tp := textproto.NewConn(conn)
	if _, err := readReply(tp, 220); err != nil {
		return err
	}
	ext, err := ehlo(tp, cfg.helo)
	if err != nil {
		return err
	}
	if cfg.tls != nil {
		if !ext["STARTTLS"] {
			return errors.New("smtptest: the server does not offer STARTTLS")
		}
		if err := command(tp, 220, "STARTTLS"); err != nil {
			return err
		}
		tc := tls.Client(conn, cfg.tls)
		if err := tc.Handshake(); err != nil {
			return fmt.Errorf("smtptest: TLS handshake: %w", err)
		}
		tp = textproto.NewConn(tc)
		if ext, err = ehlo(tp, cfg.helo); err != nil {
			return err
		}
	}
	if !ext["PIPELINING"] {
		return errors.New("smtptest: the server does not offer PIPELINING")
	}
	var group strings.Builder
	fmt.Fprintf(&group, "MAIL FROM:<%s>", from)
	if ext["8BITMIME"] {
		group.WriteString(" BODY=8BITMIME")
	}
	if needsUTF8(from, to) {
		group.WriteString(" SMTPUTF8")
	}
	group.WriteString("\r\n")
	for _, rcpt := range to {
		fmt.Fprintf(&group, "RCPT TO:<%s>\r\n", rcpt)
	}
	group.WriteString("DATA\r\n")
	if _, err := tp.W.WriteString(group.String()); err != nil {
		return err
	}
	if err := tp.W.Flush(); err != nil {
		return err
	}
	mailErr := replyError(readReply(tp, 250))
	var refused error
	for range to {
		if err := replyError(readReply(tp, 250)); err != nil && refused == nil {
			refused = err
		}
	}
	_, dataErr := readReply(tp, 354)
	switch {
	case mailErr != nil:
		return mailErr
	case dataErr != nil && refused != nil:
		return refused // DATA refused for want of recipients
	case dataErr != nil:
		return dataErr
	}
	w := tp.DotWriter()
	if _, err := strings.NewReader(msg).WriteTo(w); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	if _, err := readReply(tp, 250); err != nil {
		return err
	}
	if err := command(tp, 221, "QUIT"); err != nil {
		return err
	}
	return refused
}

// needsUTF8 reports whether an address is not ASCII: MAIL then carries
// SMTPUTF8 (RFC 6531), as go-smtp's SendMail does.
func needsUTF8(from string, to []string) bool {
	for _, a := range append([]string{from}, to...) {
		for i := 0; i < len(a); i++ {
			if a[i] >= 0x80 {
				return true
			}
		}
	}
	return false
}

// ehlo says EHLO and returns the extensions offered.
func ehlo(tp *textproto.Conn, name string) (map[string]bool, error) {
	if err := tp.PrintfLine("EHLO %s", name); err != nil {
		return nil, err
	}
	text, err := readReply(tp, 250)
	if err != nil {
		return nil, err
	}
	ext := map[string]bool{}
	for _, line := range strings.Split(text, "\n")[1:] {
		kw, _, _ := strings.Cut(line, " ")
		ext[strings.ToUpper(kw)] = true
	}
	return ext, nil
}

// command sends line and reads a reply of code want.
func command(tp *textproto.Conn, want int, line string) error {
	if err := tp.PrintfLine("%s", line); err != nil {
		return err
	}
	_, err := readReply(tp, want)
	return err
}

// readReply reads one reply and returns its text; a reply of another code
// than want is returned as an *smtpd.Error.
func readReply(tp *textproto.Conn, want int) (string, error) {
	code, text, err := tp.ReadResponse(want)
	var te *textproto.Error
	if errors.As(err, &te) {
		return text, replyOf(te.Code, te.Msg)
	}
	if err != nil && code == 0 {
		return text, err
	}
	if err != nil { // a code of the right first digit but not want
		return text, replyOf(code, text)
	}
	return text, nil
}

// replyError returns the error of a readReply.
func replyError(_ string, err error) error { return err }

// replyOf makes an *smtpd.Error of a reply's code and text, whose first
// word is its enhanced code.
func replyOf(code int, text string) *smtpd.Error {
	text, _, _ = strings.Cut(text, "\n") // the first line
	e := &smtpd.Error{Code: code, Message: text}
	if first, rest, ok := strings.Cut(text, " "); ok {
		var parts [3]int
		nums := strings.Split(first, ".")
		valid := len(nums) == 3
		for i := 0; valid && i < 3; i++ {
			n, err := strconv.Atoi(nums[i])
			parts[i], valid = n, err == nil
		}
		if valid {
			e.Enhanced, e.Message = smtpd.EnhancedCode(parts), rest
		}
	}
	return e
}

// asReply turns go-smtp's *smtp.SMTPError into an *smtpd.Error and leaves
// other errors alone.
func asReply(err error) error {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		return err
	}
	return &smtpd.Error{Code: se.Code, Enhanced: smtpd.EnhancedCode(se.EnhancedCode), Message: se.Message}
}
