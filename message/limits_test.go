package message_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ownmx/ownmx/message"
)

// nested returns a message of n multiparts nested in one another, the
// innermost holding a text part.
func nested(n int) string {
	var b strings.Builder
	b.WriteString("Subject: deep\n")
	for i := range n {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i)
	}
	b.WriteString(textPart + "\n")
	for i := n - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\n", i)
	}
	return b.String()
}

// TestMaxDepth: multiparts nested past MaxDepth are not opened.
func TestMaxDepth(t *testing.T) {
	ones := func(n int) string { return strings.TrimSuffix(strings.Repeat("1.", n), ".") }
	for _, c := range []struct {
		name     string
		depth    int // multiparts nested
		maxDepth int
		text     string
		closed   string // section of the multipart not opened, "-" for none
	}{
		{"at the default limit", message.DefaultMaxDepth, 0, "the text", "-"},
		{"one past the default limit", message.DefaultMaxDepth + 1, 0, "", ones(message.DefaultMaxDepth)},
		{"absurdly deep", 5000, 0, "", ones(message.DefaultMaxDepth)},
		{"limit of 2", 3, 2, "", "1.1"},
		{"limit of 1", 1, 1, "the text", "-"},
		{"no limit", 200, -1, "the text", "-"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := parse(t, wire(nested(c.depth)), &message.Options{MaxDepth: c.maxDepth})
			if res.m.Text != c.text {
				t.Errorf("Text = %q, want %q", res.m.Text, c.text)
			}
			if c.closed == "-" {
				checkProblems(t, res.err)
				checkAttachments(t, res)
				return
			}
			checkProblems(t, res.err, wantProblem{Part: c.closed, Is: message.ErrTooDeep, Text: "multipart/mixed not opened"})
			if len(res.m.Attachments) != 1 || res.m.Attachments[0].Part != c.closed || res.m.Attachments[0].ContentType != "multipart/mixed" ||
				!strings.Contains(res.contents[c.closed], "the text") {
				t.Errorf("the multipart not opened is not listed as an attachment with its body: %+v", res.m.Attachments)
			}
		})
	}
}

// attachments returns a multipart/mixed message of a text part and n-1
// attachments of size bytes each.
func attachments(n, size int) string {
	parts := []string{textPart}
	body := strings.Repeat("x", size)
	for i := 2; i <= n; i++ {
		parts = append(parts, fmt.Sprintf("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=f%d.bin\n\n%s", i, body))
	}
	return multipartMessage(parts...)
}

// TestMaxParts: parts past MaxParts are not read.
func TestMaxParts(t *testing.T) {
	t.Run("at the default limit", func(t *testing.T) {
		res := parse(t, wire(attachments(message.DefaultMaxParts, 1)), nil)
		checkProblems(t, res.err)
		if len(res.m.Attachments) != message.DefaultMaxParts-1 {
			t.Errorf("%d attachments, want %d", len(res.m.Attachments), message.DefaultMaxParts-1)
		}
	})
	t.Run("one past the default limit", func(t *testing.T) {
		res := parse(t, wire(attachments(message.DefaultMaxParts+1, 1)), nil)
		checkProblems(t, res.err, wantProblem{Part: fmt.Sprint(message.DefaultMaxParts + 1), Is: message.ErrTooManyParts,
			Text: "this part and the rest of the message were not read"})
		if len(res.m.Attachments) != message.DefaultMaxParts-1 || res.m.Text != "the text" {
			t.Errorf("%d attachments and text %q, want %d and the text", len(res.m.Attachments), res.m.Text, message.DefaultMaxParts-1)
		}
	})
	t.Run("multiparts count", func(t *testing.T) {
		msg := multipartMessage("Content-Type: multipart/alternative; boundary=a\n\n--a\n"+textPart+"\n--a\nContent-Type: text/html\n\n<p>\n--a--",
			"Content-Type: image/png\n\npng")
		res := parse(t, wire(msg), &message.Options{MaxParts: 3})
		checkProblems(t, res.err, wantProblem{Part: "2", Is: message.ErrTooManyParts})
		if res.m.Text != "the text" || res.m.HTML != "<p>" || len(res.m.Attachments) != 0 {
			t.Errorf("text %q, HTML %q, %d attachments; want the first three parts only", res.m.Text, res.m.HTML, len(res.m.Attachments))
		}
	})
	t.Run("no limit", func(t *testing.T) {
		res := parse(t, wire(attachments(3*message.DefaultMaxParts, 1)), &message.Options{MaxParts: -1})
		checkProblems(t, res.err)
		if len(res.m.Attachments) != 3*message.DefaultMaxParts-1 {
			t.Errorf("%d attachments", len(res.m.Attachments))
		}
	})
}

// TestMaxTextBytes: text and HTML are cut at MaxTextBytes, at a character
// boundary, and the cut is reported by TextTruncated and HTMLTruncated,
// not as a problem; what follows is read.
func TestMaxTextBytes(t *testing.T) {
	after := "Content-Type: application/pdf\n\npdf"
	for _, c := range []struct {
		name       string
		text       string
		max        int64
		want       string
		truncated  bool
		attachment bool
	}{
		{"under", "abc", 3, "abc", false, true},
		{"over", "abcd", 3, "abc", true, true},
		{"cut inside a character", strings.Repeat("é", 10), 5, "éé", true, true},
		{"cut inside a 4-byte character", "a🌞", 4, "a", true, true},
		{"default: 1 MiB", strings.Repeat("z", message.DefaultMaxTextBytes+10), 0, strings.Repeat("z", message.DefaultMaxTextBytes), true, true},
		{"no limit", strings.Repeat("z", 3<<20), -1, strings.Repeat("z", 3<<20), false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, typ := range []string{"text/plain", "text/html"} {
				msg := multipartMessage("Content-Type: "+typ+"; charset=utf-8\n\n"+c.text, after)
				res := parse(t, wire(msg), &message.Options{MaxTextBytes: c.max})
				got, truncated := res.m.Text, res.m.TextTruncated
				if typ == "text/html" {
					got, truncated = res.m.HTML, res.m.HTMLTruncated
				}
				if got != c.want || truncated != c.truncated {
					t.Errorf("%s: %d bytes %q... truncated %v; want %d bytes, truncated %v", typ, len(got), cut(got), truncated, len(c.want), c.truncated)
				}
				checkProblems(t, res.err)
				checkAttachments(t, res, wantAttachment{Part: "2", ContentType: "application/pdf", Disposition: "attachment", Content: "pdf"})
			}
		})
	}
}

func cut(s string) string { return s[:min(len(s), 20)] }
