package message_test

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/ownmx/ownmx/message"
)

// A shape is a message of testdata and what Parse must make of it.
type shape struct {
	file        string
	from        mail.Address
	subject     string
	text, html  string
	attachments []wantAttachment
	problems    []wantProblem
}

// shapes are real-world message shapes, by the RFC they exercise. The
// files are LF-ended; the tests send them as a Data handler reads them,
// CR LF-ended after smtpd's Received field.
var shapes = []shape{
	// RFC 5322 and RFC 2045 §5.2: no MIME at all is text/plain in US-ASCII.
	{
		file:    "plain.eml",
		from:    mail.Address{Name: "Jörg Müller", Address: "jorg@example.com"},
		subject: "Été 🌞— café",
		text:    "Hello Alice,\r\n\r\nplain text, no MIME: text/plain in US-ASCII (RFC 2045 section 5.2).\r\n",
	},
	// RFC 2045 §6.7: quoted-printable with soft line breaks.
	{
		file:    "html.eml",
		from:    mail.Address{Name: "News", Address: "news@example.com"},
		subject: "HTML only",
		html:    "<html><body><p>Café — a long line that quoted-printable breaks softly.</p></body></html>\r\n",
	},
	// RFC 2046 §5.1.4: the CR LF before a boundary belongs to the boundary.
	{
		file:    "alternative.eml",
		from:    mail.Address{Address: "bob@example.com"},
		subject: "Meeting",
		text:    "Hi Alice,\r\n\r\nSee you at 10 — Bob",
		html:    "<p>Hi <b>Alice</b>,</p>\r\n<p>See you at 10.</p>\r\n",
	},
	// RFC 2046 §5.1.3, RFC 2183: attachments, one of them text, one with a
	// name that climbs directories; charsets of attachments left as they are.
	{
		file:    "mixed.eml",
		from:    mail.Address{Name: "Carol", Address: "carol@example.com"},
		subject: "Report",
		text:    "Report attached.",
		html:    "<p>Report attached.</p>",
		attachments: []wantAttachment{
			{Part: "2", Filename: "report.pdf", ContentType: "application/pdf", Disposition: "attachment", Size: 1120},
			{Part: "3", Filename: "notes.txt", ContentType: "text/plain", Disposition: "attachment", Content: "notes\r\n"},
			{Part: "4", Filename: "passwd", ContentType: "text/csv", Disposition: "attachment", Content: "a;b\r\n\x80;1"},
		},
	},
	// RFC 2387, RFC 2392: inline images of an HTML body, with and without
	// Content-Disposition.
	{
		file:    "related.eml",
		from:    mail.Address{Address: "dave@example.com"},
		subject: "Newsletter",
		text:    "Our logo is below.\r\n",
		html:    `<html><body>Our logo: <img src="cid:logo@example.com"><img src="cid:spacer@example.com"></body></html>`,
		attachments: []wantAttachment{
			{Part: "2.2", Filename: "logo.png", ContentType: "image/png", Disposition: "inline", ContentID: "logo@example.com", Size: 1024},
			{Part: "2.3", ContentType: "image/gif", Disposition: "inline", ContentID: "spacer@example.com", Content: "GIF89a\x01\x00\x01\x00\x00\x00\x00;"},
		},
	},
	// RFC 2046 §5.2.1: a forwarded message is one attachment, named after
	// its subject, not opened: its text is not the message's.
	{
		file:    "forwarded.eml",
		from:    mail.Address{Address: "frank@example.com"},
		subject: "Fwd: Re: café plans",
		text:    "See the forwarded message.",
		attachments: []wantAttachment{
			{Part: "2", Filename: "Re: café plans.eml", ContentType: "message/rfc822", Disposition: "attachment",
				Content: wireLF(strings.Join([]string{
					"From: Erin <erin@example.net>", "To: frank@example.com", "Subject: =?UTF-8?Q?Re:_caf=C3=A9_plans?=",
					"MIME-Version: 1.0", `Content-Type: multipart/alternative; boundary="inner"`, "",
					"--inner", "Content-Type: text/plain; charset=utf-8", "", "inner text, not the outer message's",
					"--inner", "Content-Type: text/html; charset=utf-8", "", "<p>inner html</p>", "--inner--", ""}, "\n"))},
		},
	},
	// RFC 2046 §4.1.2: charsets. ISO-8859-1 is read as windows-1252, as
	// browsers do (WHATWG Encoding §4.2).
	{
		file:    "latin1.eml",
		from:    mail.Address{Name: "François", Address: "francois@example.fr"},
		subject: "Résumé",
		text:    "Déjà vu: “quoted” € 5\r\n",
	},
	{
		file:    "windows1252.eml",
		from:    mail.Address{Address: "alice@example.com"},
		subject: "cp1252",
		text:    "Price: € 10 – “ok”\r\n",
	},
	// RFC 6152 8BITMIME bodies, RFC 6532 UTF-8 header.
	{
		file:    "utf8-8bit.eml",
		from:    mail.Address{Address: "alice@example.com"},
		subject: "8bit UTF-8 header, RFC 6532: naïve ✓",
		text:    "Grüße aus Köln ✓ 日本語\r\n",
	},
	{
		file:    "shift_jis.eml",
		from:    mail.Address{Address: "taro@example.jp"},
		subject: "件名",
		text:    "日本語のテキスト\r\n",
	},
	{
		file:     "unknown-charset.eml",
		from:     mail.Address{Address: "alice@example.com"},
		subject:  "unknown charset",
		text:     "ascii survives, \uFFFD does not\r\n", // a run of bad bytes is one U+FFFD
		problems: []wantProblem{{Part: "", Is: message.ErrUnknownCharset, Text: "x-martian"}},
	},
	// RFC 2231 §3, §4: continuations and charsets in file names; RFC 2047
	// encoded words in quoted names, as mailers write them.
	{
		file:    "rfc2231.eml",
		from:    mail.Address{Address: "alice@example.com"},
		subject: "file names",
		text:    "see attachments",
		attachments: []wantAttachment{
			{Part: "2", Filename: "日本語.txt", ContentType: "text/plain", Disposition: "attachment", Content: "1"},
			{Part: "3", Filename: "résumé.pdf", ContentType: "application/pdf", Disposition: "attachment", Content: "2"},
			{Part: "4", Filename: "very long name.txt", ContentType: "application/octet-stream", Disposition: "attachment", Content: "3"},
			{Part: "5", Filename: "naïve.bin", ContentType: "application/octet-stream", Disposition: "attachment", Content: "4"},
			{Part: "6", Filename: "“quoted”.txt", ContentType: "application/octet-stream", Disposition: "attachment", Content: "5"},
			{Part: "7", Filename: "Привет.docx", ContentType: "application/vnd.openxmlformats-officedocument.wordprocessingml.document", Disposition: "attachment", Content: "6"},
			{Part: "8", Filename: "Ångström.txt", ContentType: "text/plain", Disposition: "inline", Content: "7"},
		},
	},
	// RFC 2046 §5.1.5: the parts of a digest are messages by default.
	{
		file:    "digest.eml",
		from:    mail.Address{Address: "list@example.org"},
		subject: "Digest, Vol 1",
		text:    "Today's topics: 2",
		attachments: []wantAttachment{
			{Part: "2.1", Filename: "First post.eml", ContentType: "message/rfc822", Disposition: "attachment", Content: "From: a@example.org\r\nSubject: First post\r\n\r\none"},
			{Part: "2.2", Filename: "Second post.eml", ContentType: "message/rfc822", Disposition: "attachment", Content: "From: b@example.org\r\nSubject: Second post\r\n\r\ntwo"},
		},
	},
	// RFC 6522 multipart/report, RFC 3464 delivery status.
	{
		file:    "report.eml",
		from:    mail.Address{Address: "MAILER-DAEMON@example.net"},
		subject: "Undelivered Mail Returned to Sender",
		text:    "I could not deliver your message.",
		attachments: []wantAttachment{
			{Part: "2", ContentType: "message/delivery-status", Disposition: "attachment",
				Content: "Reporting-MTA: dns; mx.example.net\r\n\r\nFinal-Recipient: rfc822; nobody@example.net\r\nAction: failed\r\nStatus: 5.1.1"},
			{Part: "3", ContentType: "text/rfc822-headers", Disposition: "inline", Content: "From: alice@example.com\r\nSubject: hello"},
		},
	},
	// A mailing list's footer: a second text part, kept as an inline one.
	{
		file:    "footer.eml",
		from:    mail.Address{Address: "list@example.org"},
		subject: "[list] hello",
		text:    "The post.",
		attachments: []wantAttachment{
			{Part: "2", ContentType: "text/plain", Disposition: "inline", Content: "--\r\nlist mailing list"},
		},
	},
}

func wireLF(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// TestShapes parses real-world shapes as a Data handler gets them.
func TestShapes(t *testing.T) {
	for _, s := range shapes {
		t.Run(s.file, func(t *testing.T) {
			res := parse(t, wire(testdata(t, s.file)), nil)
			checkShape(t, res, s)
			if got := res.m.Header.Get("Received"); !strings.HasPrefix(got, "from client.example") {
				t.Errorf("Header's first Received = %q, want smtpd's", got)
			}
		})
	}
}

func checkShape(t *testing.T, res result, s shape) {
	t.Helper()
	m := res.m
	if m.From != s.from {
		t.Errorf("From = %+v, want %+v", m.From, s.from)
	}
	if m.Subject != s.subject {
		t.Errorf("Subject = %q, want %q", m.Subject, s.subject)
	}
	if m.Text != s.text {
		t.Errorf("Text = %q, want %q", m.Text, s.text)
	}
	if m.HTML != s.html {
		t.Errorf("HTML = %q, want %q", m.HTML, s.html)
	}
	if m.TextTruncated || m.HTMLTruncated {
		t.Errorf("truncated: text %v, HTML %v", m.TextTruncated, m.HTMLTruncated)
	}
	checkAttachments(t, res, s.attachments...)
	checkProblems(t, res.err, s.problems...)
}

// TestShapesLF parses the same shapes with bare LF line ends, as a message
// read from a file may have: the same message but for its line ends.
func TestShapesLF(t *testing.T) {
	for _, s := range shapes {
		t.Run(s.file, func(t *testing.T) {
			res := parse(t, testdata(t, s.file), nil)
			s.text, s.html = lf(s.text), lf(s.html)
			s.attachments = append([]wantAttachment(nil), s.attachments...)
			for i := range s.attachments {
				if c := s.attachments[i].Content; c != "" {
					s.attachments[i].Content, s.attachments[i].Size = lf(c), 0
				}
			}
			if s.file == "mixed.eml" { // its notes.txt is base64 of CR LF text
				s.attachments[1].Content = "notes\r\n"
			}
			checkShape(t, res, s)
		})
	}
}

func lf(s string) string {
	if strings.Contains(s, "<b>Alice</b>") { // base64 of CR LF text
		return s
	}
	return strings.ReplaceAll(s, "\r\n", "\n")
}

// TestHeaderFields checks the header fields of RFC 5322 §3.6 that
// TestShapes does not.
func TestHeaderFields(t *testing.T) {
	res := parse(t, wire(testdata(t, "plain.eml")), nil)
	m := res.m
	if res.err != nil {
		t.Fatal(res.err)
	}
	wantTo := []mail.Address{{Name: "Alice", Address: "alice@example.com"}, {Address: "bob@example.com"}}
	if !equalAddresses(m.To, wantTo) {
		t.Errorf("To = %+v, want %+v", m.To, wantTo)
	}
	if len(m.Cc) != 0 {
		t.Errorf("Cc = %+v, want none (an empty group, RFC 5322 §3.4)", m.Cc)
	}
	wantReplyTo := []mail.Address{{Name: "Support, Team", Address: "support@example.com"}}
	if !equalAddresses(m.ReplyTo, wantReplyTo) {
		t.Errorf("ReplyTo = %+v, want %+v", m.ReplyTo, wantReplyTo)
	}
	if want := time.Date(2024, 1, 2, 14, 4, 5, 0, time.UTC); !m.Date.Equal(want) {
		t.Errorf("Date = %v, want %v", m.Date, want)
	}
	if m.MessageID != "20240102.abc@example.com" {
		t.Errorf("MessageID = %q", m.MessageID)
	}
	if strings.Join(m.InReplyTo, " ") != "parent@example.com" {
		t.Errorf("InReplyTo = %q", m.InReplyTo)
	}
	if strings.Join(m.References, " ") != "root@example.com parent@example.com" {
		t.Errorf("References = %q", m.References)
	}
}

func equalAddresses(a, b []mail.Address) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestBodyChoice: the text and HTML bodies are the first text/plain and
// text/html parts that are not attachments (RFC 2183 §2.2: disposition
// attachment, or a file name), wherever attachments stand.
func TestBodyChoice(t *testing.T) {
	attachedText := "Content-Type: text/plain\nContent-Disposition: attachment\n\nattached text"
	namedText := "Content-Type: text/plain; name=notes.txt\n\nnamed text"
	inlineNamed := "Content-Type: text/plain\nContent-Disposition: inline; filename=notes.txt\n\ninline named text"
	attachedHTML := "Content-Type: text/html\nContent-Disposition: attachment; filename=page.html\n\n<p>attached"
	inlineText := "Content-Type: text/plain\nContent-Disposition: inline\n\ninline text"
	html := "Content-Type: text/html\n\n<p>body"
	for _, c := range []struct {
		name        string
		parts       []string
		text, html  string
		attachments []string // parts listed as attachments
	}{
		{"attached text first", []string{attachedText, textPart}, "the text", "", []string{"1"}},
		{"named text first", []string{namedText, textPart}, "the text", "", []string{"1"}},
		{"inline with a name first", []string{inlineNamed, textPart}, "the text", "", []string{"1"}},
		{"attached HTML first", []string{attachedHTML, html}, "", "<p>body", []string{"1"}},
		{"inline disposition is a body", []string{inlineText, textPart}, "inline text", "", []string{"2"}},
		{"only attachments", []string{attachedText, attachedHTML}, "", "", []string{"1", "2"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := parse(t, wire(multipartMessage(c.parts...)), nil)
			var parts []string
			for _, a := range res.m.Attachments {
				parts = append(parts, a.Part)
			}
			if res.m.Text != c.text || res.m.HTML != c.html || strings.Join(parts, " ") != strings.Join(c.attachments, " ") {
				t.Errorf("text %q, HTML %q, attachments %v; want %q, %q, %v", res.m.Text, res.m.HTML, parts, c.text, c.html, c.attachments)
			}
			checkProblems(t, res.err)
		})
	}
}
