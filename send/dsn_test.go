package send_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"

	"github.com/ownmx/ownmx/send"
	"github.com/ownmx/ownmx/smtpd"
)

// origHeader is the header of the message that could not be delivered.
const origHeader = "Received: from a.origin.test\r\n\tby mx.origin.test; Mon, 2 Jun 2025 10:00:00 +0000\r\n" +
	"From: Alice <alice@origin.test>\r\n" +
	"To: info@origin.test\r\n" +
	"Subject: the report\r\n" +
	"Message-ID: <1@origin.test>\r\n"

var (
	arrival = time.Date(2025, 6, 2, 10, 0, 0, 0, time.UTC)
	now     = time.Date(2025, 6, 2, 10, 5, 0, 0, time.UTC)
)

// rcptRefused is what Send returns when mx1 refuses the recipient.
var rcptRefused = &send.Error{
	Rcpt: "bob@example.test", Host: "mx1.example.test", IP: netip.MustParseAddr("127.0.0.2"), Command: send.CommandRcpt,
	Code: 550, Enhanced: smtpd.EnhancedCode{5, 1, 1}, Message: "No such user here", Permanent: true,
}

func testBounce() *send.Bounce {
	return &send.Bounce{
		ReportingMTA: "mx.origin.test",
		To:           "alice@origin.test",
		Rcpt:         "bob@example.test",
		OriginalRcpt: "info@origin.test",
		Arrival:      arrival,
		Err:          rcptRefused,
		Header:       strings.NewReader(origHeader + "\r\nthe body, which a DSN does not return\r\n"),
		Now:          now,
		MessageID:    "dsn-1@mx.origin.test",
	}
}

// dsn is a DSN as go-message reads it.
type dsn struct {
	header     message.Header
	reportType string
	types      []string          // the parts' content types
	text       string            // the first part, decoded
	perMessage map[string]string // the delivery-status fields, RFC 3464 §2.2
	perRcpt    map[string]string // RFC 3464 §2.3
	returned   string            // the third part
}

// parseDSN reads a DSN with go-message, failing the test where it is not
// a multipart/report of delivery-status (RFC 6522, RFC 3464).
func parseDSN(t *testing.T, b []byte) dsn {
	t.Helper()
	if i := bytes.Index(bytes.ReplaceAll(b, []byte("\r\n"), nil), []byte("\n")); i >= 0 {
		t.Fatalf("a line of the DSN ends in a bare LF")
	}
	e, err := message.Read(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var d dsn
	d.header = e.Header
	typ, params, err := e.Header.ContentType()
	if err != nil || typ != "multipart/report" {
		t.Fatalf("Content-Type %q, %v; want multipart/report", typ, err)
	}
	d.reportType = params["report-type"]
	mr := e.MultipartReader()
	for i := 0; ; i++ {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		typ, _, _ := p.Header.ContentType()
		d.types = append(d.types, typ)
		body, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatal(err)
		}
		switch i {
		case 0:
			d.text = string(body)
		case 1:
			br := bufio.NewReader(bytes.NewReader(body))
			d.perMessage = fields(t, br)
			d.perRcpt = fields(t, br)
			if rest, _ := io.ReadAll(br); len(bytes.TrimSpace(rest)) != 0 {
				t.Errorf("after the recipient's fields: %q", rest)
			}
		case 2:
			d.returned = string(body)
		}
	}
	return d
}

// fields reads one group of delivery-status fields.
func fields(t *testing.T, br *bufio.Reader) map[string]string {
	t.Helper()
	h, err := textproto.ReadHeader(br)
	if err != nil {
		t.Fatalf("delivery-status: %v", err)
	}
	m := map[string]string{}
	for f := h.Fields(); f.Next(); {
		if _, dup := m[f.Key()]; dup {
			t.Errorf("field %s twice", f.Key())
		}
		m[f.Key()] = f.Value()
	}
	return m
}

func TestBounce(t *testing.T) {
	b, err := testBounce().Message()
	if err != nil {
		t.Fatal(err)
	}
	d := parseDSN(t, b)
	for k, want := range map[string]string{
		"From":           "Mail Delivery System <MAILER-DAEMON@mx.origin.test>",
		"To":             "<alice@origin.test>",
		"Date":           "Mon, 02 Jun 2025 10:05:00 +0000",
		"Message-Id":     "<dsn-1@mx.origin.test>",
		"Auto-Submitted": "auto-replied", // RFC 3834 §5
		"Mime-Version":   "1.0",
	} {
		if got := d.header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if d.reportType != "delivery-status" {
		t.Errorf("report-type %q", d.reportType)
	}
	if want := []string{"text/plain", "message/delivery-status", "text/rfc822-headers"}; !slices.Equal(d.types, want) {
		t.Errorf("parts %q, want %q", d.types, want)
	}
	wantMessage := map[string]string{
		"Reporting-Mta": "dns; mx.origin.test",
		"Arrival-Date":  "Mon, 02 Jun 2025 10:00:00 +0000",
	}
	wantRcpt := map[string]string{
		"Original-Recipient": "rfc822; info@origin.test",
		"Final-Recipient":    "rfc822; bob@example.test",
		"Action":             "failed",
		"Status":             "5.1.1",
		"Remote-Mta":         "dns; mx1.example.test",
		"Diagnostic-Code":    "smtp; 550 5.1.1 No such user here",
		"Last-Attempt-Date":  "Mon, 02 Jun 2025 10:05:00 +0000",
	}
	if fmt.Sprint(d.perMessage) != fmt.Sprint(wantMessage) {
		t.Errorf("per-message fields %v, want %v", d.perMessage, wantMessage)
	}
	if fmt.Sprint(d.perRcpt) != fmt.Sprint(wantRcpt) {
		t.Errorf("per-recipient fields\n%v\nwant\n%v", d.perRcpt, wantRcpt)
	}
	if d.returned != origHeader {
		t.Errorf("returned header %q, want %q", d.returned, origHeader)
	}
	for _, s := range []string{"<info@origin.test>", "<bob@example.test>", "mx1.example.test [127.0.0.2]", "550 5.1.1 No such user here", "RCPT TO"} {
		if !strings.Contains(d.text, s) {
			t.Errorf("the text does not say %q:\n%s", s, d.text)
		}
	}
}

// Python's email package, an independent parser, reads the DSN as a
// valid multipart/report with its delivery-status fields, and finds no
// defect in any part.
func TestBouncePython(t *testing.T) {
	b, err := testBounce().Message()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dsn.eml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	const script = `
import email, email.policy, json, sys
m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=email.policy.default)
parts = list(m.iter_parts())
status = parts[1].get_payload()
out = {
    "type": m.get_content_type(),
    "report_type": m.get_param("report-type"),
    "multipart": m.is_multipart(),
    "parts": [p.get_content_type() for p in parts],
    "defects": [str(d) for p in m.walk() for d in p.defects],
    "text": parts[0].get_content(),
    "status_groups": len(status),
    "per_message": dict(status[0].items()),
    "per_rcpt": dict(status[1].items()),
    "returned": parts[2].get_payload(decode=True).decode(),
    "auto_submitted": m["Auto-Submitted"],
}
json.dump(out, sys.stdout)
`
	out, err := exec.Command("/usr/bin/python3", "-c", script, path).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("python3: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var got struct {
		Type          string            `json:"type"`
		ReportType    string            `json:"report_type"`
		Multipart     bool              `json:"multipart"`
		Parts         []string          `json:"parts"`
		Defects       []string          `json:"defects"`
		Text          string            `json:"text"`
		StatusGroups  int               `json:"status_groups"`
		PerMessage    map[string]string `json:"per_message"`
		PerRcpt       map[string]string `json:"per_rcpt"`
		Returned      string            `json:"returned"`
		AutoSubmitted string            `json:"auto_submitted"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Type != "multipart/report" || got.ReportType != "delivery-status" || !got.Multipart || got.AutoSubmitted != "auto-replied" {
		t.Errorf("Python read %+v", got)
	}
	if want := []string{"text/plain", "message/delivery-status", "text/rfc822-headers"}; !slices.Equal(got.Parts, want) {
		t.Errorf("Python read parts %q, want %q", got.Parts, want)
	}
	if len(got.Defects) != 0 {
		t.Errorf("Python found defects: %q", got.Defects)
	}
	if got.StatusGroups != 2 || got.PerMessage["Reporting-MTA"] != "dns; mx.origin.test" ||
		got.PerRcpt["Final-Recipient"] != "rfc822; bob@example.test" || got.PerRcpt["Status"] != "5.1.1" ||
		got.PerRcpt["Action"] != "failed" || got.PerRcpt["Diagnostic-Code"] != "smtp; 550 5.1.1 No such user here" {
		t.Errorf("Python read the delivery-status as %d groups: %v, %v", got.StatusGroups, got.PerMessage, got.PerRcpt)
	}
	if !strings.Contains(got.Text, "550 5.1.1 No such user here") {
		t.Errorf("Python read the text %q", got.Text)
	}
	// Python's parser reads lines as LF-terminated.
	if want := strings.ReplaceAll(origHeader, "\r\n", "\n"); got.Returned != want {
		t.Errorf("Python read the returned header %q, want %q", got.Returned, want)
	}
}

// Status, Remote-MTA and Diagnostic-Code for each kind of failure.
func TestBounceStatus(t *testing.T) {
	temporary := *rcptRefused
	temporary.Code, temporary.Enhanced, temporary.Permanent, temporary.Message = 451, smtpd.EnhancedCode{4, 2, 0}, false, "mailbox busy"
	nullMX := &send.Error{Rcpt: "bob@example.test", Enhanced: smtpd.EnhancedCode{5, 1, 10}, Message: "example.test accepts no mail", Permanent: true}
	long := *rcptRefused
	long.Enhanced, long.Message = smtpd.EnhancedCode{5, 7, 1}, strings.Repeat("é\x01 ", 300)
	noEnhanced := *rcptRefused
	noEnhanced.Enhanced = smtpd.EnhancedCode{}
	tests := []struct {
		name       string
		err        error
		status     string
		remote     string
		diagnostic string
	}{
		{"a 5xx reply", rcptRefused, "5.1.1", "dns; mx1.example.test", "smtp; 550 5.1.1 No such user here"},
		{"a 5xx reply without enhanced code", &noEnhanced, "5.0.0", "dns; mx1.example.test", "smtp; 550 No such user here"},
		{"given up after a 4xx (RFC 3463 X.4.7)", &temporary, "4.4.7", "dns; mx1.example.test", "smtp; 451 4.2.0 mailbox busy"},
		{"expired", fmt.Errorf("%w after 5 days: %w", send.ErrExpired, errors.New("connection refused")), "4.4.7", "", ""},
		{"null MX, no host", nullMX, "5.1.10", "", ""},
		{"a long reply with control characters and UTF-8", &long, "5.7.1", "dns; mx1.example.test", "smtp; " + ("550 5.7.1 " + strings.Repeat("?? ", 300))[:900]},
		{"another error", errors.New("the forwarding address is not allowed"), "5.0.0", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := testBounce()
			b.Err = tt.err
			m, err := b.Message()
			if err != nil {
				t.Fatal(err)
			}
			d := parseDSN(t, m)
			if d.perRcpt["Status"] != tt.status || d.perRcpt["Remote-Mta"] != tt.remote || d.perRcpt["Diagnostic-Code"] != tt.diagnostic || d.perRcpt["Action"] != "failed" {
				t.Errorf("fields %v, want Status %q, Remote-MTA %q, Diagnostic-Code %q", d.perRcpt, tt.status, tt.remote, tt.diagnostic)
			}
			if !strings.Contains(d.text, "could not be delivered") {
				t.Errorf("text %q", d.text)
			}
		})
	}
}

// No bounce of a bounce (RFC 5321 §4.5.5), and no header injection
// through a field.
func TestBounceRefused(t *testing.T) {
	b := testBounce()
	b.To = ""
	if _, err := b.Message(); !errors.Is(err, send.ErrNullSender) {
		t.Errorf("bounce to the null sender: %v, want ErrNullSender", err)
	}
	for _, set := range []func(b *send.Bounce){
		func(b *send.Bounce) { b.To = "alice@origin.test\r\nBcc: eve@evil.test" },
		func(b *send.Bounce) { b.Rcpt = "bob@example.test\nX: y" },
		func(b *send.Bounce) { b.OriginalRcpt = "info@origin.test\r" },
		func(b *send.Bounce) { b.ReportingMTA = "mx\x00.origin.test" },
		func(b *send.Bounce) { b.From = "m@x\r\n" },
		func(b *send.Bounce) { b.MessageID = "a\r\nb" },
		func(b *send.Bounce) { b.ReportingMTA = "" },
		func(b *send.Bounce) { b.Rcpt = "" },
	} {
		b := testBounce()
		set(b)
		if m, err := b.Message(); err == nil {
			t.Errorf("Message of %+v: no error, made\n%s", b, m)
		}
	}
}

// Fields left to their defaults.
func TestBounceDefaults(t *testing.T) {
	b := testBounce()
	b.From, b.MessageID, b.Now, b.Arrival, b.OriginalRcpt, b.Header = "", "", time.Time{}, time.Time{}, "", nil
	m1, err := b.Message()
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := b.Message()
	d1, d2 := parseDSN(t, m1), parseDSN(t, m2)
	if id := d1.header.Get("Message-Id"); !strings.HasSuffix(id, "@mx.origin.test>") || id == d2.header.Get("Message-Id") {
		t.Errorf("Message-IDs %q and %q: want two different ones at mx.origin.test", id, d2.header.Get("Message-Id"))
	}
	if date, err := mail.ParseDate(d1.header.Get("Date")); err != nil || time.Since(date) > time.Hour || time.Since(date) < -time.Hour {
		t.Errorf("Date %v, %v: want now", date, err)
	}
	if want := []string{"text/plain", "message/delivery-status"}; !slices.Equal(d1.types, want) {
		t.Errorf("without Header, parts %q, want %q", d1.types, want)
	}
	if _, ok := d1.perMessage["Arrival-Date"]; ok {
		t.Error("Arrival-Date without an arrival time")
	}
	if _, ok := d1.perRcpt["Original-Recipient"]; ok {
		t.Error("Original-Recipient without one")
	}
	if got := d1.header.Get("From"); got != "Mail Delivery System <MAILER-DAEMON@mx.origin.test>" {
		t.Errorf("From %q", got)
	}
}

// Non-ASCII addresses travel in the 7-bit utf-8-addr-xtext form of
// RFC 6533 §3; a header with 8-bit bytes goes back as
// message/global-headers (RFC 6533 §6.3).
func TestBounceUTF8(t *testing.T) {
	b := testBounce()
	b.Rcpt = "jürgen+x@bücher.test"
	b.OriginalRcpt = "info=1@origin.test"
	b.Header = strings.NewReader("From: Jürgen <j@origin.test>\r\nSubject: Grüße\r\n\r\nbody")
	m, err := b.Message()
	if err != nil {
		t.Fatal(err)
	}
	d := parseDSN(t, m)
	if got, want := d.perRcpt["Final-Recipient"], `utf-8; j\x{FC}rgen\x{2B}x@b\x{FC}cher.test`; got != want {
		t.Errorf("Final-Recipient %q, want %q", got, want)
	}
	if got, want := d.perRcpt["Original-Recipient"], "rfc822; info=1@origin.test"; got != want {
		t.Errorf("Original-Recipient %q, want %q", got, want)
	}
	if d.types[2] != "message/global-headers" || d.returned != "From: Jürgen <j@origin.test>\r\nSubject: Grüße\r\n" {
		t.Errorf("third part %s %q", d.types[2], d.returned)
	}
	if !strings.Contains(d.text, "jürgen+x@bücher.test") {
		t.Errorf("the text does not name the recipient: %q", d.text)
	}
}

// The returned header is whole lines, at most MaxHeaderBytes, with CRLF
// line ends, whatever the header's lines and the bound: checked against
// a simple reference for every bound up to past the header's length.
func TestBounceHeaderBound(t *testing.T) {
	headers := []string{
		origHeader + "\r\nbody",
		"A: 1\nB: 2\n\nbody",                               // bare LF
		"A: 1\r\nB: " + strings.Repeat("x", 5000) + "\r\n", // a line longer than a read buffer, no body
		"A: 1\r\nB: 2",                                     // no end of line
		"A: 1\rx\r\nB: 2\r\n\r\n",                          // bare CR
		"\r\nbody",                                         // empty header
	}
	for _, h := range headers {
		full := reference(h)
		for max := 1; max <= len(full)+3; max++ {
			b := testBounce()
			b.Header, b.MaxHeaderBytes = strings.NewReader(h), max
			m, err := b.Message()
			if err != nil {
				t.Fatal(err)
			}
			d := parseDSN(t, m)
			want := ""
			for _, line := range strings.SplitAfter(full, "\r\n") {
				if len(want)+len(line) > max {
					break
				}
				want += line
			}
			if d.returned != want {
				t.Fatalf("header %q, MaxHeaderBytes %d: returned %q, want %q", h, max, d.returned, want)
			}
		}
		b := testBounce()
		b.Header, b.MaxHeaderBytes = strings.NewReader(h), -1
		m, _ := b.Message()
		if d := parseDSN(t, m); d.returned != full {
			t.Errorf("header %q without a bound: returned %q, want %q", h, d.returned, full)
		}
	}
}

// reference is the header of msg as a DSN returns it, the simple way.
func reference(msg string) string {
	msg = strings.ReplaceAll(msg, "\r\n", "\n")
	head, _, _ := strings.Cut(msg, "\n\n")
	if strings.HasPrefix(msg, "\n") {
		return ""
	}
	head = strings.ReplaceAll(head, "\r", " ")
	return strings.ReplaceAll(strings.TrimSuffix(head, "\n")+"\n", "\n", "\r\n")
}

// The DSN goes out through a Sender from the null sender, and arrives
// as built.
func TestBounceSent(t *testing.T) {
	w := newWorld(t,
		"origin.test. IN MX 10 mx.origin.test.",
		"mx.origin.test. IN A 127.0.0.5",
	)
	r := newReceiver("mx.origin.test")
	w.serve("127.0.0.5", r.Server)
	m, err := testBounce().Message()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.sender().Send(t.Context(), "", "alice@origin.test", msgOf(string(m))); err != nil {
		t.Fatal(err)
	}
	got := r.one(t)
	if got.from != "" || !bytes.Equal(got.msg, m) {
		t.Errorf("got from %q\n%s", got.from, got.msg)
	}
}
