package send

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/ownmx/ownmx/smtpd"
)

// DefaultMaxHeaderBytes is how much of the original message's header a
// Bounce returns when its MaxHeaderBytes is zero: 64 KiB, far more than
// the header of ordinary mail, and little enough for any mailbox.
const DefaultMaxHeaderBytes = 64 << 10

// maxDiagnostic bounds the server's reply in a Diagnostic-Code field, so
// that the field's line stays within the 998 octets of RFC 5322 §2.1.1.
const maxDiagnostic = 900

var (
	// ErrExpired, wrapped in a Bounce's Err with the last failure, says
	// that delivery was given up after its time ran out: the DSN's
	// Status is 4.4.7 (RFC 3463: delivery time expired).
	ErrExpired = errors.New("send: delivery time expired")

	// ErrNullSender is returned by Bounce.Message when the message to
	// bounce came from the null sender: a bounce is never bounced
	// (RFC 5321 §4.5.5, RFC 3464 §2), lest two servers bounce
	// forever.
	ErrNullSender = errors.New("send: no bounce for a message from the null sender (RFC 5321 §4.5.5)")
)

// Bounce describes a delivery that failed, to tell its sender with a
// delivery status notification (DSN): a multipart/report of RFC 6522
// with report-type delivery-status, whose parts are a text for people,
// the message/delivery-status fields of RFC 3464, and the header of the
// original message. Send the DSN from the null sender ("" as Send's from)
// to To.
type Bounce struct {
	// ReportingMTA is this host's name, as the Reporting-MTA field gives
	// it (RFC 3464 §2.2.2); required.
	ReportingMTA string
	// From is the DSN's From address; empty means
	// "MAILER-DAEMON@" + ReportingMTA.
	From string
	// To is the original message's MAIL FROM, where the DSN goes;
	// required: a message from the null sender is not bounced.
	To string
	// Rcpt is the recipient whose delivery failed, the Final-Recipient
	// (RFC 3464 §2.3.2); required.
	Rcpt string
	// OriginalRcpt is the address the original message was sent to, when
	// it is not Rcpt: the forwarding address that led to Rcpt. It is given
	// as Original-Recipient (RFC 3464 §2.3.1).
	OriginalRcpt string
	// Arrival is when the original message was received (Arrival-Date,
	// RFC 3464 §2.2.5); zero leaves the field out.
	Arrival time.Time
	// Err is the failure. A *Error gives the Status (its enhanced code),
	// the Remote-MTA and, for a server's reply, the Diagnostic-Code. A
	// temporary *Error, or any error wrapping ErrExpired, means delivery
	// was given up: Status 4.4.7. Any other error is Status 5.0.0.
	Err error
	// Header is the original message's header, read up to the blank
	// line that ends it (the whole message may be given) and returned as
	// text/rfc822-headers (RFC 6522 §4), or message/global-headers when
	// it has 8-bit bytes (RFC 6533 §6.3). Nil leaves the part out.
	Header io.Reader
	// MaxHeaderBytes bounds the header returned; the lines after it are
	// left out. Zero means DefaultMaxHeaderBytes; negative means no
	// bound.
	MaxHeaderBytes int
	// Now is the DSN's Date and the Last-Attempt-Date; zero means the
	// time Message is called.
	Now time.Time
	// MessageID is the DSN's Message-ID, without angle brackets; empty
	// means a new random one at ReportingMTA.
	MessageID string
}

// Message returns the DSN, a whole message with CRLF line ends, marked
// Auto-Submitted: auto-replied (RFC 3834 §5) so that autoresponders do
// not answer it. It fails with ErrNullSender when To is empty, and for a
// field that is missing or holds a control character.
func (b *Bounce) Message() ([]byte, error) {
	if b.To == "" {
		return nil, ErrNullSender
	}
	if b.ReportingMTA == "" || b.Rcpt == "" {
		return nil, errors.New("send: a Bounce needs ReportingMTA and Rcpt")
	}
	from := b.From
	if from == "" {
		from = "MAILER-DAEMON@" + b.ReportingMTA
	}
	for name, v := range map[string]string{"ReportingMTA": b.ReportingMTA, "From": from, "To": b.To, "Rcpt": b.Rcpt, "OriginalRcpt": b.OriginalRcpt, "MessageID": b.MessageID} {
		if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return nil, fmt.Errorf("send: Bounce.%s %q holds a control character", name, v)
		}
	}
	now := b.Now
	if now.IsZero() {
		now = time.Now()
	}
	id := b.MessageID
	if id == "" {
		id = rand.Text() + "@" + b.ReportingMTA
	}
	var header []byte
	if b.Header != nil {
		var err error
		if header, err = readHeader(b.Header, b.maxHeaderBytes()); err != nil {
			return nil, fmt.Errorf("send: reading the header of the bounced message: %w", err)
		}
	}

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if err := b.writeParts(mw, now, header); err != nil {
		return nil, err
	}

	var m bytes.Buffer
	fmt.Fprintf(&m, "From: Mail Delivery System <%s>\r\n", from)
	fmt.Fprintf(&m, "To: <%s>\r\n", b.To)
	m.WriteString("Subject: Undelivered mail returned to sender\r\n")
	fmt.Fprintf(&m, "Date: %s\r\n", now.Format(time.RFC1123Z))
	fmt.Fprintf(&m, "Message-ID: <%s>\r\n", id)
	m.WriteString("Auto-Submitted: auto-replied\r\n")
	m.WriteString("MIME-Version: 1.0\r\n")
	fmt.Fprintf(&m, "Content-Type: %s\r\n", mime.FormatMediaType("multipart/report",
		map[string]string{"report-type": "delivery-status", "boundary": mw.Boundary()}))
	m.WriteString("\r\n")
	m.Write(body.Bytes())
	return m.Bytes(), nil
}

// writeParts writes the three parts of the report.
func (b *Bounce) writeParts(mw *multipart.Writer, now time.Time, header []byte) error {
	status, failure := b.status()

	w, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {"text/plain; charset=utf-8"},
		"Content-Description":       {"Notification"},
		"Content-Transfer-Encoding": {"quoted-printable"},
	})
	if err != nil {
		return err
	}
	qp := quotedprintable.NewWriter(w)
	io.WriteString(qp, b.text(status, failure))
	if err := qp.Close(); err != nil {
		return err
	}

	w, err = mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":        {"message/delivery-status"},
		"Content-Description": {"Delivery report"},
	})
	if err != nil {
		return err
	}
	var f strings.Builder
	fmt.Fprintf(&f, "Reporting-MTA: dns; %s\r\n", b.ReportingMTA)
	if !b.Arrival.IsZero() {
		fmt.Fprintf(&f, "Arrival-Date: %s\r\n", b.Arrival.Format(time.RFC1123Z))
	}
	f.WriteString("\r\n")
	if b.OriginalRcpt != "" && b.OriginalRcpt != b.Rcpt {
		fmt.Fprintf(&f, "Original-Recipient: %s\r\n", typedAddress(b.OriginalRcpt))
	}
	fmt.Fprintf(&f, "Final-Recipient: %s\r\n", typedAddress(b.Rcpt))
	f.WriteString("Action: failed\r\n")
	fmt.Fprintf(&f, "Status: %s\r\n", status)
	if failure != nil && failure.Host != "" {
		fmt.Fprintf(&f, "Remote-MTA: dns; %s\r\n", failure.Host)
	}
	if failure != nil && failure.Code != 0 {
		// A line of a message is at most 998 octets (RFC 5322 §2.1.1).
		diagnostic := asciiOnly(reply(failure))
		fmt.Fprintf(&f, "Diagnostic-Code: smtp; %s\r\n", diagnostic[:min(len(diagnostic), maxDiagnostic)])
	}
	fmt.Fprintf(&f, "Last-Attempt-Date: %s\r\n", now.Format(time.RFC1123Z))
	if _, err := io.WriteString(w, f.String()); err != nil {
		return err
	}

	if header != nil {
		h := textproto.MIMEHeader{"Content-Type": {"text/rfc822-headers"}, "Content-Description": {"Header of the undelivered message"}}
		if !isASCII(string(header)) {
			h = textproto.MIMEHeader{"Content-Type": {"message/global-headers"}, "Content-Transfer-Encoding": {"8bit"},
				"Content-Description": {"Header of the undelivered message"}}
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			return err
		}
		if _, err := w.Write(header); err != nil {
			return err
		}
	}
	return mw.Close()
}

// status returns the DSN's Status, and the *Error of the failure when
// there is one.
func (b *Bounce) status() (smtpd.EnhancedCode, *Error) {
	var e *Error
	errors.As(b.Err, &e)
	switch {
	case errors.Is(b.Err, ErrExpired) || (e != nil && !e.Permanent):
		return smtpd.EnhancedCode{4, 4, 7}, e
	case e != nil:
		return e.Status(), e
	}
	return smtpd.EnhancedCode{5, 0, 0}, nil
}

// text is the part of the DSN for people.
func (b *Bounce) text(status smtpd.EnhancedCode, failure *Error) string {
	var t strings.Builder
	fmt.Fprintf(&t, "This is the mail system at %s.\n\n", b.ReportingMTA)
	if b.OriginalRcpt != "" && b.OriginalRcpt != b.Rcpt {
		fmt.Fprintf(&t, "Your message to <%s>, forwarded to <%s>, could not be delivered.\n", b.OriginalRcpt, b.Rcpt)
	} else {
		fmt.Fprintf(&t, "Your message to <%s> could not be delivered.\n", b.Rcpt)
	}
	if status == (smtpd.EnhancedCode{4, 4, 7}) {
		t.WriteString("It could not be delivered in the time allowed, and delivery was given up.\n")
	}
	t.WriteString("\n")
	switch {
	case failure != nil && failure.Code != 0:
		fmt.Fprintf(&t, "The mail server %s [%s] answered %s:\n\n    %s\n", failure.Host, failure.IP, failure.Command, reply(failure))
	case failure != nil:
		t.WriteString(strings.TrimPrefix(failure.Error(), "send: ") + "\n")
	case b.Err != nil:
		t.WriteString(b.Err.Error() + "\n")
	}
	t.WriteString("\nThe delivery report and the header of your message are attached.\n")
	return t.String()
}

// reply is a server's reply as it said it: code, enhanced code, text.
func reply(e *Error) string {
	s := strconv.Itoa(e.Code)
	if e.Enhanced != (smtpd.EnhancedCode{}) {
		s += " " + e.Enhanced.String()
	}
	return s + " " + e.Message
}

// typedAddress writes an address as a DSN field wants it (RFC 3464
// §2.3.2): "rfc822; addr", or for a non-ASCII address the
// utf-8-addr-xtext form of RFC 6533 §3, which message/delivery-status
// can carry in 7 bits.
func typedAddress(addr string) string {
	if isASCII(addr) {
		return "rfc822; " + addr
	}
	var b strings.Builder
	b.WriteString("utf-8; ")
	for _, r := range addr {
		if r >= 0x21 && r <= 0x7e && r != '+' && r != '=' && r != '\\' {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, "\\x{%X}", r)
		}
	}
	return b.String()
}

// asciiOnly replaces the bytes that are not printable ASCII, for a field
// of message/delivery-status.
func asciiOnly(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

func (b *Bounce) maxHeaderBytes() int {
	switch {
	case b.MaxHeaderBytes == 0:
		return DefaultMaxHeaderBytes
	case b.MaxHeaderBytes < 0:
		return -1
	}
	return b.MaxHeaderBytes
}

// readHeader reads a message's header up to the blank line that ends it,
// or at most max bytes of whole lines (max < 0: no bound), with CRLF line
// ends, a bare CR made a space. It holds no more than max bytes and a
// line, however long the header's lines.
func readHeader(r io.Reader, max int) ([]byte, error) {
	lr := &io.LimitedReader{R: r, N: math.MaxInt64}
	if max >= 0 {
		lr.N = int64(max) + 2 // room for the CRLF or LF that ends the last line that fits
	}
	br := bufio.NewReader(lr)
	var out bytes.Buffer
	for {
		line, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return nil, err
		}
		content := bytes.TrimRight(line, "\r\n")
		if len(line) == 0 || len(content) == 0 && line[len(line)-1] == '\n' {
			break // the end of the message, or of the header
		}
		// A line cut short by lr does not fit either: max+2 bytes were
		// read, and none of them is dropped but its last CR.
		if max >= 0 && out.Len()+len(content)+2 > max {
			break
		}
		out.Write(bytes.ReplaceAll(content, []byte("\r"), []byte(" ")))
		out.WriteString("\r\n")
		if err == io.EOF {
			break
		}
	}
	return out.Bytes(), nil
}
