package tlsrpt_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-message"

	"github.com/ownmx/ownmx/tlsrpt"
)

// part is one leaf part of a test message.
type part struct {
	contentType, filename, encoding string
	body                            []byte
}

// reportMail writes a message whose top part has contentType and holds
// parts, with the headers report mail has (RFC 8460 §5.3), using
// go-message's writer as a sender's software would.
func reportMail(t testing.TB, from, contentType string, parts ...part) []byte {
	t.Helper()
	var h message.Header
	h.Set("From", from)
	h.Set("To", "tlsrpt@company-y.example")
	h.Set("Date", "Sat, 02 Apr 2016 00:30:00 +0000")
	h.Set("Subject", "Report Domain: company-y.example Submitter: company-x.example Report-ID: <5065427c-23d3-47ca-b6e0-946ea0e8c4be@company-x.example>")
	h.Set("TLS-Report-Domain", "company-y.example")
	h.Set("TLS-Report-Submitter", "company-x.example")
	h.Set("MIME-Version", "1.0")
	h.Set("Content-Type", contentType)
	var buf bytes.Buffer
	w, err := message.CreateWriter(&buf, h)
	if err != nil {
		t.Fatal(err)
	}
	writeParts(t, w, parts)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeParts(t testing.TB, w *message.Writer, parts []part) {
	t.Helper()
	for _, p := range parts {
		var ph message.Header
		ph.Set("Content-Type", p.contentType)
		if p.filename != "" {
			ph.SetContentDisposition("attachment", map[string]string{"filename": p.filename})
		}
		if p.encoding != "" {
			ph.Set("Content-Transfer-Encoding", p.encoding)
		}
		pw, err := w.CreatePart(ph)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pw.Write(p.body); err != nil {
			t.Fatal(err)
		}
		if err := pw.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

const reportType = `multipart/report; report-type="tlsrpt"`

// TestFromMessage finds the report in mail as Google and Microsoft send
// it, and in variants that RFC 8460 §5.3 allows.
func TestFromMessage(t *testing.T) {
	z := gzipped(t, rfcSample(t))
	text := part{contentType: `text/plain; charset="UTF-8"`, body: []byte("This is an aggregate TLS report from company-x.example\n")}
	for _, tc := range []struct {
		name string
		mail []byte
	}{
		{"google", reportMail(t, "noreply-smtp-tls-reporting@google.com", reportType, text,
			part{`application/tlsrpt+gzip; name="google.com!company-y.example!1459468800!1459555199!001.json.gz"`,
				"google.com!company-y.example!1459468800!1459555199!001.json.gz", "base64", z})},
		{"microsoft", reportMail(t, "tlsrpt-noreply@microsoft.com", reportType,
			part{contentType: `text/html; charset="us-ascii"`, encoding: "quoted-printable", body: []byte("<p>TLS report for company-y.example</p>")},
			part{"application/tlsrpt+gzip", "enterprise.protection.outlook.com!company-y.example!1459468800!1459555199.json.gz", "base64", z})},
		{"json attachment", reportMail(t, "r@company-x.example", reportType, text,
			part{"application/tlsrpt+json", "report.json", "quoted-printable", rfcSample(t)})},
		{"application/gzip named .json.gz in a report", reportMail(t, "r@company-x.example", reportType, text,
			part{"application/gzip", "company-x!company-y.example!1.json.gz", "base64", z})},
		{"octet-stream named .json in a report", reportMail(t, "r@company-x.example", reportType, text,
			part{"application/octet-stream", "report.json", "base64", rfcSample(t)})},
		{"single part", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mail := tc.mail
			if len(mail) == 0 {
				mail = singlePart(t, "application/tlsrpt+gzip", z)
			}
			r, err := tlsrpt.FromMessage(bytes.NewReader(mail))
			if err != nil {
				t.Fatalf("%v\n%s", err, mail)
			}
			wantRFCSample(t, r)
		})
	}
}

// singlePart writes a message that is only the report, base64.
func singlePart(t testing.TB, contentType string, body []byte) []byte {
	t.Helper()
	var h message.Header
	h.Set("From", "r@company-x.example")
	h.Set("Content-Type", contentType)
	h.Set("Content-Transfer-Encoding", "base64")
	var buf bytes.Buffer
	w, err := message.CreateWriter(&buf, h)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(body)
	w.Close()
	return buf.Bytes()
}

// TestFromMessageNested finds the report in a multipart/report inside a
// multipart/mixed, as a forwarding list or a security gateway may wrap
// it.
func TestFromMessageNested(t *testing.T) {
	inner := reportMail(t, "r@company-x.example", reportType,
		part{contentType: "text/plain", body: []byte("report")},
		part{"application/tlsrpt+gzip", "r.json.gz", "base64", gzipped(t, rfcSample(t))})
	// The report mail, header and all, as the second part of a
	// multipart/mixed.
	nested := string(inner)
	outer := "From: gateway@company-y.example\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n" +
		"--outer\r\nContent-Type: text/plain\r\n\r\nThis message was scanned.\r\n" +
		"--outer\r\n" + nested + "\r\n--outer--\r\n"
	r, err := tlsrpt.FromMessage(strings.NewReader(outer))
	if err != nil {
		t.Fatalf("%v\n%s", err, outer)
	}
	wantRFCSample(t, r)
}

// TestFromMessageNoReport refuses mail that holds no report, with
// ErrNoReport, and mail whose report is broken, with Parse's error.
func TestFromMessageNoReport(t *testing.T) {
	z := gzipped(t, rfcSample(t))
	text := part{contentType: "text/plain", body: []byte("hello")}
	for _, tc := range []struct {
		name   string
		mail   []byte
		noRpt  bool
		substr string
	}{
		{"plain text mail", []byte("From: a@example.com\r\nSubject: hi\r\n\r\nhello\r\n"), true, "no application/tlsrpt+gzip"},
		{"gzip attachment outside a report", reportMail(t, "a@example.com", "multipart/mixed", text,
			part{"application/gzip", "r.json.gz", "base64", z}), true, ""},
		{"DMARC report", reportMail(t, "a@example.com", `multipart/report; report-type="feedback-report"`, text,
			part{"application/gzip", "dmarc.xml.gz", "base64", z}), true, ""},
		{"broken gzip", reportMail(t, "a@example.com", reportType, text,
			part{"application/tlsrpt+gzip", "r.json.gz", "base64", z[:len(z)/2]}), false, "truncated"},
		{"JSON missing a field", reportMail(t, "a@example.com", reportType, text,
			part{"application/tlsrpt+json", "r.json", "", []byte(`{"organization-name":"x"}`)}), false, "date-range: missing"},
		{"bad base64", []byte("From: a@example.com\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!\r\n"), false, ""},
		{"header only", []byte("From: a@example.com"), true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tlsrpt.FromMessage(bytes.NewReader(tc.mail))
			if err == nil {
				t.Fatalf("report %+v, want an error", r)
			}
			if errors.Is(err, tlsrpt.ErrNoReport) != tc.noRpt || !strings.Contains(err.Error(), tc.substr) {
				t.Errorf("error %v; want ErrNoReport %v, saying %q", err, tc.noRpt, tc.substr)
			}
		})
	}
}

// TestFromMessageLimits refuses mail over the size limit, and mail whose
// parts nest or number beyond reason.
func TestFromMessageLimits(t *testing.T) {
	big := reportMail(t, "a@example.com", reportType,
		part{contentType: "text/plain", body: bytes.Repeat([]byte("0123456789abcdef\r\n"), 1000)},
		part{"application/tlsrpt+gzip", "r.json.gz", "base64", gzipped(t, rfcSample(t))})
	if _, err := tlsrpt.FromMessageWithOptions(bytes.NewReader(big), &tlsrpt.Options{MaxInput: 1000}); !errors.Is(err, tlsrpt.ErrTooLarge) {
		t.Errorf("message of %d bytes, limit 4000: %v, want ErrTooLarge", len(big), err)
	}

	var deep strings.Builder
	deep.WriteString("From: a@example.com\r\n")
	for i := range 20 {
		fmt.Fprintf(&deep, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
	}
	deep.WriteString("Content-Type: text/plain\r\n\r\nx\r\n")
	if _, err := tlsrpt.FromMessage(strings.NewReader(deep.String())); !errors.Is(err, tlsrpt.ErrNoReport) || !strings.Contains(err.Error(), "nested") {
		t.Errorf("20 nested multiparts: %v, want ErrNoReport saying nested", err)
	}

	var many strings.Builder
	many.WriteString("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n")
	for range 200 {
		many.WriteString("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n")
	}
	many.WriteString("--b--\r\n")
	if _, err := tlsrpt.FromMessage(strings.NewReader(many.String())); !errors.Is(err, tlsrpt.ErrNoReport) || !strings.Contains(err.Error(), "parts") {
		t.Errorf("200 parts: %v, want ErrNoReport saying parts", err)
	}
}
