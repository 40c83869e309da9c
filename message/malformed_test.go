package message_test

import (
	"strings"
	"testing"

	"github.com/ownmx/ownmx/message"
)

// A broken message and what must still be read of it.
type brokenCase struct {
	name        string
	msg         string // LF-ended, sent CR LF-ended after smtpd's Received field
	bare        bool   // msg is sent as it is
	opts        *message.Options
	subject     string
	text, html  string
	attachments []wantAttachment
	problems    []wantProblem
}

func runBroken(t *testing.T, cases []brokenCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg := wire(c.msg)
			if c.bare {
				msg = c.msg
			}
			res := parse(t, msg, c.opts)
			if c.subject != "" && res.m.Subject != c.subject {
				t.Errorf("Subject = %q, want %q", res.m.Subject, c.subject)
			}
			if res.m.Text != c.text {
				t.Errorf("Text = %q, want %q", res.m.Text, c.text)
			}
			if res.m.HTML != c.html {
				t.Errorf("HTML = %q, want %q", res.m.HTML, c.html)
			}
			checkAttachments(t, res, c.attachments...)
			checkProblems(t, res.err, c.problems...)
		})
	}
}

const textPart = "Content-Type: text/plain\n\nthe text"

// TestBoundaries: RFC 2046 §5.1.1, boundaries missing, wrong or unclosed.
func TestBoundaries(t *testing.T) {
	runBroken(t, []brokenCase{
		{
			name: "no boundary parameter",
			msg:  "Content-Type: multipart/mixed\n\n--b\nContent-Type: text/plain\n\nx\n--b--\n",
			attachments: []wantAttachment{
				{Part: "", ContentType: "multipart/mixed", Disposition: "attachment", Content: "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n"},
			},
			problems: []wantProblem{{Part: "", Text: "without a boundary"}},
		},
		{
			name:     "boundary never appears",
			msg:      "Content-Type: multipart/mixed; boundary=zz\n\n--b\nContent-Type: text/plain\n\nx\n--b--\n",
			problems: []wantProblem{{Part: "", Text: `boundary "zz" not found`}},
		},
		{
			name:        "no closing boundary after an attachment",
			msg:         "Content-Type: multipart/mixed; boundary=b\n\n--b\n" + textPart + "\n--b\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n\naGVsbG8=\n",
			text:        "the text",
			attachments: []wantAttachment{{Part: "2", ContentType: "application/pdf", Disposition: "attachment", Content: "hello"}},
			problems:    []wantProblem{{Part: "2", Is: message.ErrTruncated, Text: "content cut after 5 bytes"}},
		},
		{
			name:        "cut inside base64",
			msg:         "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n\naGVsbG8gd29y\nbG",
			attachments: []wantAttachment{{Part: "1", ContentType: "image/png", Disposition: "attachment", Content: "hello wor"}},
			problems:    []wantProblem{{Part: "1", Is: message.ErrTruncated}},
		},
		{
			name:     "no closing boundary after the text",
			msg:      "Content-Type: multipart/mixed; boundary=b\n\n--b\n" + textPart + "\n",
			text:     "the text", // the CR LF may start the missing boundary
			problems: []wantProblem{{Part: "1", Is: message.ErrTruncated, Text: "text cut after 8 bytes"}},
		},
		{
			name: "inner multipart unclosed, outer goes on",
			msg: "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/alternative; boundary=a\n\n--a\n" + textPart +
				"\n--a\nContent-Type: text/html\n\n<p>html</p>\n--b\nContent-Type: application/pdf\n\npdf\n--b--\n",
			text:        "the text",
			html:        "<p>html</p>",
			attachments: []wantAttachment{{Part: "2", ContentType: "application/pdf", Disposition: "attachment", Content: "pdf"}},
			problems:    []wantProblem{{Part: "1.2", Is: message.ErrTruncated}},
		},
		{
			name: "inner and outer unclosed",
			msg: "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/alternative; boundary=a\n\n--a\n" + textPart +
				"\n--a\nContent-Type: text/html\n\n<p>html</p>\n--b\nContent-Type: application/pdf\n\npdf\n",
			text:        "the text",
			html:        "<p>html</p>",
			attachments: []wantAttachment{{Part: "2", ContentType: "application/pdf", Disposition: "attachment", Content: "pdf"}},
			problems:    []wantProblem{{Part: "1.2", Is: message.ErrTruncated}, {Part: "2", Is: message.ErrTruncated}},
		},
		{
			name: "transport padding after boundaries, boundary-like lines in bodies",
			msg: "Content-Type: multipart/mixed; boundary=b\n\n--b \t\n" + "Content-Type: text/plain\n\n--bx is no boundary\n x--b neither" +
				"\n--b\t\nContent-Type: text/html\n\n<p>\n--b--  \n",
			text: "--bx is no boundary\r\n x--b neither",
			html: "<p>",
		},
		{
			name: "preamble with lines longer than a buffer, epilogue",
			msg:  "Content-Type: multipart/mixed; boundary=b\n\n" + strings.Repeat("p", 100000) + "\n--b\n" + textPart + "\n--b--\nepilogue\n",
			text: "the text",
		},
		{
			name:     "empty boundary",
			msg:      "Content-Type: multipart/mixed; boundary=\"\"\n\nx\n",
			problems: []wantProblem{{Part: "", Text: "without a boundary"}},
			attachments: []wantAttachment{
				{Part: "", ContentType: "multipart/mixed", Disposition: "attachment", Content: "x\r\n"},
			},
		},
		{
			name:     "boundary too long",
			msg:      "Content-Type: multipart/mixed; boundary=" + strings.Repeat("b", 5000) + "\n\nx\n",
			problems: []wantProblem{{Part: "", Text: "boundary of 5000 bytes"}},
			attachments: []wantAttachment{
				{Part: "", ContentType: "multipart/mixed", Disposition: "attachment", Content: "x\r\n"},
			},
		},
		{
			name:     "part header malformed ends its multipart",
			msg:      multipartMessage(textPart, "Content-Type text/html\n\n<p>", "Content-Type: application/pdf\n\npdf"),
			subject:  "test",
			text:     "the text",
			problems: []wantProblem{{Part: "2", Text: "the rest of the message were not read"}},
		},
		{
			name: "transfer encoding of a multipart ignored (RFC 2045 §6.4)",
			msg:  "Content-Type: multipart/mixed; boundary=b\nContent-Transfer-Encoding: base64\n\n--b\n" + textPart + "\n--b--\n",
			text: "the text",
		},
		{
			name: "no parts",
			msg:  "Content-Type: multipart/mixed; boundary=b\n\n--b--\n",
		},
	})
}

// TestEncodings: RFC 2045 §6, damaged transfer encodings.
func TestEncodings(t *testing.T) {
	att := func(cte, body string) string {
		return multipartMessage(textPart, "Content-Type: application/octet-stream\nContent-Transfer-Encoding: "+cte+"\n\n"+body)
	}
	txt := func(cte, body string) string {
		return "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: " + cte + "\n\n" + body
	}
	octet := func(content string) []wantAttachment {
		return []wantAttachment{{Part: "2", ContentType: "application/octet-stream", Disposition: "attachment", Content: content}}
	}
	runBroken(t, []brokenCase{
		{name: "base64 illegal characters", msg: att("base64", "aGVs!!bG8="), text: "the text", attachments: octet("hel"),
			problems: []wantProblem{{Part: "2", Text: "content cut after 3 bytes: base64: characters outside the alphabet"}}},
		{name: "base64 without padding", msg: att("base64", "aGVsbG8"), text: "the text", attachments: octet("hel"),
			problems: []wantProblem{{Part: "2", Text: "base64: data ends inside a group of 4 characters"}}},
		{name: "base64 followed by text", msg: att("base64", "aGVsbG8=\n\n-- \nlist footer"), text: "the text", attachments: octet("hello"),
			problems: []wantProblem{{Part: "2", Text: "content cut after 5 bytes: base64: characters outside the alphabet or after the padding"}}},
		{name: "base64 indented", msg: att("base64", " aGVs\n\tbG8=\n"), text: "the text", attachments: octet("hello")},
		{name: "base64 in upper case, with a comment", msg: att("BASE64 (x)", "aGVsbG8="), text: "the text", attachments: octet("hello")},
		{name: "base64 text cut", msg: txt("base64", "aGVs!!bG8="), text: "hel",
			problems: []wantProblem{{Part: "", Text: "text cut after 3 bytes: base64: characters outside the alphabet"}}},
		{name: "quoted-printable bad escapes kept", msg: txt("quoted-printable", "a=ZZb =4"), text: "a=ZZb =4"},
		{name: "quoted-printable control byte", msg: txt("quoted-printable", "ab\x01cd"), text: "ab",
			problems: []wantProblem{{Part: "", Text: "text cut after 2 bytes: quotedprintable: invalid unescaped byte 0x01"}}},
		{name: "unknown encoding", msg: att("x-uuencode", "begin 644 x"), text: "the text", attachments: octet("begin 644 x"),
			problems: []wantProblem{{Part: "2", Is: message.ErrUnknownEncoding, Text: `"x-uuencode"`}}},
		{name: "unknown encoding of the text", msg: txt("x-gzip64", "abc"), text: "abc",
			problems: []wantProblem{{Part: "", Is: message.ErrUnknownEncoding}}},
	})
}

// TestCharsets: RFC 2046 §4.1.2, RFC 2047, RFC 2231 with charsets that
// cannot be read, and text that is not what its charset says.
func TestCharsets(t *testing.T) {
	runBroken(t, []brokenCase{
		{name: "unknown charset in the subject", msg: "Subject: =?x-martian?Q?abc?= ok\n\nbody", subject: "=?x-martian?Q?abc?= ok", text: "body",
			problems: []wantProblem{{Part: "", Is: message.ErrUnknownCharset, Text: "Subject"}}},
		{name: "malformed encoded word kept", msg: "Subject: =?utf-8?Q?abc ok\n\nbody", subject: "=?utf-8?Q?abc ok", text: "body"},
		{name: "Latin-1 bytes in a UTF-8 text", msg: "Content-Type: text/plain; charset=utf-8\n\ncaf\xe9 ok", text: "caf\uFFFD ok",
			problems: []wantProblem{{Part: "", Text: "text is not valid utf-8"}}},
		{name: "8-bit bytes without a charset, valid UTF-8", msg: "Subject: x\n\ncafé", subject: "x", text: "café"},
		{name: "8-bit bytes without a charset, not UTF-8", msg: "Subject: x\n\ncaf\xe9", subject: "x", text: "caf\uFFFD",
			problems: []wantProblem{{Part: "", Text: "text is not valid us-ascii"}}},
		{name: "raw Latin-1 subject", msg: "Subject: caf\xe9\n\nbody", subject: "caf\uFFFD", text: "body",
			problems: []wantProblem{{Part: "", Text: "Subject is not valid UTF-8"}}},
		{name: "unknown charset in an RFC 2231 name",
			msg:  multipartMessage(textPart, "Content-Type: application/pdf\nContent-Disposition: attachment; filename*=x-martian''r%E9sum%E9.pdf\n\npdf"),
			text: "the text", attachments: []wantAttachment{{Part: "2", Filename: "r\uFFFDsum\uFFFD.pdf", ContentType: "application/pdf", Disposition: "attachment", Content: "pdf"}},
			problems: []wantProblem{{Part: "2", Is: message.ErrUnknownCharset, Text: "filename"}}},
		{name: "unknown charset in HTML", msg: "Content-Type: text/html; charset=\"x-martian\"\n\n<p>\xff</p>", html: "<p>\uFFFD</p>",
			problems: []wantProblem{{Part: "", Is: message.ErrUnknownCharset, Text: "HTML"}}},
	})
}

// TestHeaders: RFC 5322 §2.2, §3.6, malformed and oversized header fields.
func TestHeaders(t *testing.T) {
	long := strings.Repeat("x", 200<<10)
	runBroken(t, []brokenCase{
		{name: "malformed line left out, the header goes on",
			msg:     "Subject: s\nthis line is no field\nContent-Type: text/html\n\n<p>",
			subject: "s", html: "<p>",
			problems: []wantProblem{{Part: "", Text: `1 malformed lines left out, the first (line 5): "this line is no field"`}}},
		{name: "header starting with a continuation", bare: true,
			msg:     " folded\nSubject: s\n\nbody",
			subject: "s", text: "body",
			problems: []wantProblem{{Part: "", Text: "malformed lines left out"}}},
		{name: "white space before the colon (RFC 5322 §4.5)", msg: "Subject : s\n\nbody", subject: "s", text: "body"},
		{name: "line longer than the limit left out, the header goes on",
			msg:     "Subject: s\nX-Long: " + long + "\nContent-Type: text/html\n\n<p>",
			subject: "s", html: "<p>",
			problems: []wantProblem{{Part: "", Is: message.ErrHeaderTooLong, Text: "1 fields left out, the first at line 5"}}},
		{name: "folded field longer than the limit left out whole",
			msg:     "Subject: s\nX-Long: a\n " + long + "\n more\nContent-Type: text/html\n\n<p>",
			subject: "s", html: "<p>",
			problems: []wantProblem{{Part: "", Is: message.ErrHeaderTooLong}}},
		{name: "many fields: those past the limit left out",
			msg:     "Subject: s\n" + strings.Repeat("X-A: b\n", 5000) + "\nbody",
			subject: "s", text: "body",
			problems: []wantProblem{{Part: "", Is: message.ErrHeaderTooLong, Text: "fields left out"}}},
		{name: "header without a body", msg: "Subject: only", subject: "only"},
		{name: "empty message"},
		{name: "NUL in a field name", msg: "Subject: s\nX-\x00: y\n\nbody", subject: "s", text: "body",
			problems: []wantProblem{{Part: "", Text: "malformed lines"}}},
		{name: "NUL in a field value", msg: "Subject: a\x00b\n\nbody", subject: "ab", text: "body",
			problems: []wantProblem{{Part: "", Text: "control characters"}}},
		{name: "part header longer than the limit",
			msg:      multipartMessage(textPart, "Content-Type: application/pdf; name=\""+long+"\"\n\npdf", "Content-Type: text/html\n\n<p>"),
			text:     "the text",
			problems: []wantProblem{{Part: "2", Is: message.ErrHeaderTooLong, Text: "this part and the rest of the message were not read"}}},
		{name: "part header limit set by MaxHeaderBytes",
			msg:      multipartMessage(textPart, "Content-Type: application/pdf; name=\""+strings.Repeat("n", 20000)+".pdf\"\n\npdf"),
			opts:     &message.Options{MaxHeaderBytes: 1000},
			text:     "the text",
			problems: []wantProblem{{Part: "2", Is: message.ErrHeaderTooLong}}},
		{name: "no Content-Type (RFC 2045 §5.2)", msg: "Subject: s\n\nbody", subject: "s", text: "body"},
		{name: "Content-Type without a subtype", msg: "Content-Type: text\n\nbody", text: "body",
			problems: []wantProblem{{Part: "", Text: "not a media type, read as text/plain"}}},
		{name: "Content-Type garbage", msg: "Content-Type: ;;;\n\nbody", text: "body",
			problems: []wantProblem{{Part: "", Text: "not a media type"}}},
		{name: "parameter after a malformed one still read",
			msg:      "Content-Type: text/plain; name=a b.txt; charset=iso-8859-1\n\ncaf\xe9",
			text:     "café",
			problems: []wantProblem{{Part: "", Text: `left out ["name=a b.txt"]`}}},
		{name: "duplicate boundary parameter: the first",
			msg:      "Content-Type: multipart/mixed; boundary=b; boundary=c\n\n--b\n" + textPart + "\n--b--\n",
			text:     "the text",
			problems: []wantProblem{{Part: "", Text: "duplicate parameter name"}}},
		{name: "Content-ID absurdly long",
			msg:  multipartMessage(textPart, "Content-Type: image/png\nContent-ID: <"+strings.Repeat("i", 2000)+">\n\npng"),
			text: "the text", attachments: []wantAttachment{{Part: "2", ContentType: "image/png", Disposition: "attachment", Content: "png"}},
			problems: []wantProblem{{Part: "2", Text: "Content-ID longer than 998 bytes"}}},
	})
}

// TestNUL: NUL bytes (RFC 5322 §2.3 forbids them; RFC 3030 BINARYMIME
// parts may hold them).
func TestNUL(t *testing.T) {
	runBroken(t, []brokenCase{
		{name: "in the text", msg: "Subject: s\n\na\x00b\x00c", subject: "s", text: "abc",
			problems: []wantProblem{{Part: "", Text: "text has NUL bytes (RFC 5322 §2.3): removed"}}},
		{name: "in the HTML", msg: "Content-Type: text/html\n\n<p>\x00", html: "<p>",
			problems: []wantProblem{{Part: "", Text: "HTML has NUL bytes"}}},
		{name: "in a binary attachment, kept",
			msg:  multipartMessage(textPart, "Content-Type: application/octet-stream\nContent-Transfer-Encoding: binary\n\n\x00\x01\x00"),
			text: "the text", attachments: []wantAttachment{{Part: "2", ContentType: "application/octet-stream", Disposition: "attachment", Content: "\x00\x01\x00"}}},
		{name: "in a part header",
			msg:      multipartMessage(textPart, "Content-Type: image/png; name=\"a\x00.png\"\n\npng"),
			text:     "the text",
			problems: []wantProblem{{Part: "2", Text: "malformed MIME header line"}}},
	})
}

// TestDates: RFC 5322 §3.3; a date that cannot be read is zero, and said.
func TestDates(t *testing.T) {
	for _, c := range []struct{ date, want string }{
		{"Tue, 2 Jan 2024 15:04:05 +0100", "2024-01-02T14:04:05Z"},
		{"2 Jan 2024 15:04:05 GMT", "2024-01-02T15:04:05Z"},              // no day name, obsolete zone (RFC 5322 §4.3)
		{"Tue, 2 Jan 2024 15:04:05 +0000 (UTC)", "2024-01-02T15:04:05Z"}, // a comment
		{"Tue, 02 Jan 2024 15:04 -0500", "2024-01-02T20:04:00Z"},         // no seconds
		{"yesterday", ""},                      // not a date
		{"Tue, 2 Jan 2024 25:04:05 +0100", ""}, // no such hour
	} {
		t.Run(c.date, func(t *testing.T) {
			res := parse(t, wire("Date: "+c.date+"\n\nbody"), nil)
			got := ""
			if !res.m.Date.IsZero() {
				got = res.m.Date.UTC().Format("2006-01-02T15:04:05Z")
			}
			if got != c.want {
				t.Errorf("Date = %q, want %q", got, c.want)
			}
			if c.want == "" {
				checkProblems(t, res.err, wantProblem{Part: "", Text: "header field Date"})
			} else {
				checkProblems(t, res.err)
			}
		})
	}
}

// TestAddresses: RFC 5322 §3.4, with the malformed lists of the wild read
// as well as possible.
func TestAddresses(t *testing.T) {
	for _, c := range []struct {
		name, field string
		want        string // the addresses read, "name <addr>" joined by "; "
		problems    int
	}{
		{"plain", "a@example.com", " <a@example.com>", 0},
		{"named and quoted", `"Doe, Jane" <jane@example.com>, Bob <b@example.com>`, "Doe, Jane <jane@example.com>; Bob <b@example.com>", 0},
		{"encoded word", "=?UTF-8?B?w4lsaXNl?= <e@example.com>", "Élise <e@example.com>", 0},
		{"group", "team: a@example.com, b@example.com;, c@example.com", " <a@example.com>;  <b@example.com>;  <c@example.com>", 0},
		{"empty group", "undisclosed-recipients:;", "", 0},
		{"UTF-8 (RFC 6532)", "Jörg <jörg@example.com>", "Jörg <jörg@example.com>", 0},
		{"missing >", "Jane <jane@example.com", " <jane@example.com>", 1},
		{"one bad among good", "a@example.com, not an address, b@example.com", " <a@example.com>;  <b@example.com>", 1},
		{"raw Latin-1 name", "Fran\xe7ois <f@example.com>", "Fran\uFFFDois <f@example.com>", 2},        // cannot read, not UTF-8
		{"unquoted dots in the name", "J. R. Doe <jrd@example.com>", "J. R. Doe <jrd@example.com>", 0}, // obs-phrase, RFC 5322 §4.1
	} {
		t.Run(c.name, func(t *testing.T) {
			res := parse(t, wire("To: "+c.field+"\n\nbody"), nil)
			var got []string
			for _, a := range res.m.To {
				got = append(got, a.Name+" <"+a.Address+">")
			}
			if strings.Join(got, "; ") != c.want {
				t.Errorf("To = %q, want %q", strings.Join(got, "; "), c.want)
			}
			var want []wantProblem
			for range c.problems {
				want = append(want, wantProblem{Part: "", Text: "header field To"})
			}
			checkProblems(t, res.err, want...)
		})
	}
}

// TestMessageIDs: RFC 5322 §3.6.4, read as mail clients read them.
func TestMessageIDs(t *testing.T) {
	for _, c := range []struct {
		name, header string
		id           string
		refs         string
		problems     []string
	}{
		{"plain", "Message-ID: <a@b>\nReferences: <r1@x> <r2@y>", "a@b", "r1@x r2@y", nil},
		{"folded, with comments", "Message-ID: (c) <a@b> (d)\nReferences: <r1@x>\n (comment)\n\t<r2@y>", "a@b", "r1@x r2@y", nil},
		{"no angle brackets", "Message-ID: a@b", "a@b", "", nil},
		{"no domain", "Message-ID: <1234>\nReferences: <1233>", "1234", "1233", nil},
		{"unclosed", "Message-ID: <a@b\nReferences: <r1@x> <r2", "", "r1@x",
			[]string{`Message-Id: "<a@b" has a "<" without ">"`, `References: "<r1@x> <r2" has a "<" without ">"`}},
		{"garbage", "Message-ID: two words", "", "", []string{`Message-Id: no message identifier in "two words"`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := parse(t, wire(c.header+"\n\nbody"), nil)
			if res.m.MessageID != c.id || strings.Join(res.m.References, " ") != c.refs {
				t.Errorf("MessageID %q, References %q; want %q, %q", res.m.MessageID, res.m.References, c.id, c.refs)
			}
			var want []wantProblem
			for _, p := range c.problems {
				want = append(want, wantProblem{Part: "", Text: p})
			}
			checkProblems(t, res.err, want...)
		})
	}
}
