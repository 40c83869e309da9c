package message_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/ownmx/ownmx/message"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// received is the trace field smtpd puts first in every message.
const received = "Received: from client.example (client.example [192.0.2.1])\r\n" +
	"\tby mx.example.org (ownmx) with ESMTPS id 7F3A\r\n" +
	"\tfor <alice@example.com>; Tue, 2 Jan 2024 15:04:06 +0000\r\n"

// wire returns msg as a Data handler reads it: lines ended by CR LF, the
// server's Received field first.
func wire(msg string) string {
	return received + strings.ReplaceAll(msg, "\n", "\r\n")
}

// testdata returns the file testdata/name.
func testdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A result is what a test sees of one Parse: the message, the error, and
// each attachment's content as the Attachment func read it, by part.
type result struct {
	m        *message.Message
	err      error
	contents map[string]string
	readErrs map[string]error // the error reading the content ended with
}

// parse parses msg with opts (nil: defaults), reading every attachment
// whole in the Attachment func, and checks what must hold of any result:
// each attachment seen once by the func with its Size equal to the bytes
// read, Text and HTML valid UTF-8 within the limit.
func parse(t testing.TB, msg string, opts *message.Options) result {
	t.Helper()
	var o message.Options
	if opts != nil {
		o = *opts
	}
	res := result{contents: map[string]string{}, readErrs: map[string]error{}}
	var seen []*message.Attachment
	o.Attachment = func(a *message.Attachment, content io.Reader) error {
		b, err := io.ReadAll(content)
		if _, dup := res.contents[a.Part]; dup {
			t.Errorf("part %s handed to the Attachment func twice", a.Part)
		}
		res.contents[a.Part] = string(b)
		res.readErrs[a.Part] = err
		seen = append(seen, a)
		return err // Parse must tell a content error from the func's own
	}
	res.m, res.err = message.ParseWithOptions(strings.NewReader(msg), &o)
	if res.m == nil {
		t.Fatal("Parse returned a nil Message")
	}
	checkMessage(t, res.m, o.MaxTextBytes)
	if len(seen) != len(res.m.Attachments) {
		t.Errorf("Attachment func called %d times for %d attachments", len(seen), len(res.m.Attachments))
	}
	for i, a := range res.m.Attachments {
		if i < len(seen) && seen[i] != a {
			t.Errorf("attachment %d: the func was handed %+v, the Message lists %+v", i, seen[i], a)
		}
		if got := int64(len(res.contents[a.Part])); got != a.Size {
			t.Errorf("part %s: Size %d, the Attachment func read %d bytes", a.Part, a.Size, got)
		}
		if res.readErrs[a.Part] != nil && res.err == nil {
			t.Errorf("part %s: reading its content failed (%v) but Parse returned no error", a.Part, res.readErrs[a.Part])
		}
	}
	return res
}

// checkMessage checks what holds of every Message: strings are valid
// UTF-8, Text and HTML within the limit, file names without directories.
func checkMessage(t testing.TB, m *message.Message, maxText int64) {
	t.Helper()
	if maxText == 0 {
		maxText = message.DefaultMaxTextBytes
	}
	for name, s := range map[string]string{"Text": m.Text, "HTML": m.HTML, "Subject": m.Subject, "From.Name": m.From.Name, "MessageID": m.MessageID} {
		if !isUTF8(s) {
			t.Errorf("%s is not valid UTF-8: %q", name, s)
		}
	}
	if maxText > 0 && (int64(len(m.Text)) > maxText || int64(len(m.HTML)) > maxText) {
		t.Errorf("Text (%d bytes) or HTML (%d bytes) longer than MaxTextBytes %d", len(m.Text), len(m.HTML), maxText)
	}
	for _, a := range m.Attachments {
		checkFilename(t, a.Filename)
		if a.Disposition != "inline" && a.Disposition != "attachment" {
			t.Errorf("part %s: disposition %q", a.Part, a.Disposition)
		}
		if a.Size < 0 {
			t.Errorf("part %s: size %d", a.Part, a.Size)
		}
	}
}

// checkFilename fails the test if name could leave the directory it is
// created in, or hide what it is.
func checkFilename(t testing.TB, name string) {
	t.Helper()
	switch {
	case !isUTF8(name):
		t.Errorf("file name %q is not valid UTF-8", name)
	case strings.ContainsAny(name, "/\\\x00"):
		t.Errorf("file name %q has a path separator or NUL", name)
	case name == "." || name == "..":
		t.Errorf("file name %q", name)
	case len(name) > 255:
		t.Errorf("file name of %d bytes", len(name))
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == 0x202e }):
		t.Errorf("file name %q has control characters", name)
	}
}

func isUTF8(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// problems returns the problems of err, which must be nil or a
// *message.ParseError.
func problems(t testing.TB, err error) []message.Problem {
	t.Helper()
	if err == nil {
		return nil
	}
	var perr *message.ParseError
	if !errors.As(err, &perr) {
		t.Fatalf("error %v (%T) is not a *ParseError", err, err)
	}
	return perr.Problems
}

// A wantProblem is a problem a test expects: in part Part, wrapping Is
// when set, its text containing Text.
type wantProblem struct {
	Part string
	Is   error
	Text string
}

// checkProblems checks that err reports exactly want, in order.
func checkProblems(t testing.TB, err error, want ...wantProblem) {
	t.Helper()
	got := problems(t, err)
	for i := 0; i < max(len(got), len(want)); i++ {
		switch {
		case i >= len(want):
			t.Errorf("unexpected problem %d: %v", i, got[i])
		case i >= len(got):
			t.Errorf("missing problem %d: part %q, %v, %q", i, want[i].Part, want[i].Is, want[i].Text)
		case got[i].Part != want[i].Part ||
			want[i].Is != nil && !errors.Is(got[i], want[i].Is) ||
			!strings.Contains(got[i].Err.Error(), want[i].Text):
			t.Errorf("problem %d: got part %q: %v\nwant part %q, %v, containing %q", i, got[i].Part, got[i].Err, want[i].Part, want[i].Is, want[i].Text)
		}
	}
}

// A wantAttachment is an expected attachment; Content is compared when
// not empty.
type wantAttachment struct {
	Part, Filename, ContentType, Disposition, ContentID string
	Size                                                int64
	Content                                             string
}

func checkAttachments(t testing.TB, res result, want ...wantAttachment) {
	t.Helper()
	got := res.m.Attachments
	for i := 0; i < max(len(got), len(want)); i++ {
		switch {
		case i >= len(want):
			t.Errorf("unexpected attachment %+v", *got[i])
			continue
		case i >= len(got):
			t.Errorf("missing attachment %+v", want[i])
			continue
		}
		g, w := *got[i], want[i]
		if w.Content != "" && w.Size == 0 {
			w.Size = int64(len(w.Content))
		}
		if g.Part != w.Part || g.Filename != w.Filename || g.ContentType != w.ContentType ||
			g.Disposition != w.Disposition || g.ContentID != w.ContentID || g.Size != w.Size {
			t.Errorf("attachment %d:\n got %+v\nwant %+v", i, g, w)
		}
		if w.Content != "" && res.contents[g.Part] != w.Content {
			t.Errorf("attachment %s: content %q, want %q", g.Part, res.contents[g.Part], w.Content)
		}
	}
}

// multipartMessage builds a multipart/mixed message with boundary "b" and
// the given parts (each a header, a blank line and a body), LF-ended.
func multipartMessage(parts ...string) string {
	var b bytes.Buffer
	b.WriteString("From: a@example.com\nSubject: test\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n")
	for _, p := range parts {
		fmt.Fprintf(&b, "--b\n%s\n", p)
	}
	b.WriteString("--b--\n")
	return b.String()
}
