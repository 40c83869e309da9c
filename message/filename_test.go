package message_test

import (
	"strings"
	"testing"
)

// TestFilenames: a file name from a message names a file in a directory
// of the receiver's choosing and nothing else (RFC 2183 §2.3, §5): no
// directory, no climbing out, no control characters, no reordering of
// what it shows, not too long. Each way of spelling a name in a header
// (quoted, RFC 2231 encoded and continued, RFC 2047 encoded, the name
// parameter of Content-Type) goes through the same cleaning.
func TestFilenames(t *testing.T) {
	long := strings.Repeat("a", 300)
	for _, c := range []struct {
		name, header, want string
	}{
		{"plain", `attachment; filename="report.pdf"`, "report.pdf"},
		{"token", `attachment; filename=report.pdf`, "report.pdf"},
		{"climbing", `attachment; filename="../../etc/passwd"`, "passwd"},
		{"absolute", `attachment; filename="/etc/passwd"`, "passwd"},
		{"climbing in the middle", `attachment; filename="a/../b.txt"`, "b.txt"},
		{"Windows path, RFC 2231", `attachment; filename*=utf-8''..%5C..%5Cwindows%5Csystem32%5Ccmd.exe`, "cmd.exe"},
		{"UNC path, RFC 2231", `attachment; filename*=utf-8''%5C%5Cserver%5Cshare%5Cx.doc`, "x.doc"},
		{"climbing, RFC 2231", `attachment; filename*=utf-8''%2e%2e%2f%2e%2e%2fetc%2fpasswd`, "passwd"},
		{"climbing, RFC 2231 continued", `attachment; filename*0*=utf-8''%2e%2e; filename*1*=%2fetc; filename*2="/passwd"`, "passwd"},
		{"climbing, RFC 2047", `attachment; filename="=?UTF-8?Q?..=2F..=2Fetc=2Fpasswd?="`, "passwd"},
		{"climbing, Content-Type name", `attachment`, "passwd"}, // see below
		{"dot-dot", `attachment; filename=".."`, ""},
		{"dot", `attachment; filename="."`, ""},
		{"directory", `attachment; filename="dir/"`, ""},
		{"dots are fine", `attachment; filename="...txt"`, "...txt"},
		{"NUL, RFC 2047", `attachment; filename="=?UTF-8?Q?a=00b.txt?="`, "ab.txt"},
		{"control characters, RFC 2231", `attachment; filename*=utf-8''a%01%1b%7fb%0d%0a.txt`, "ab.txt"},
		{"C1 controls, RFC 2231", `attachment; filename*=utf-8''a%C2%85b.txt`, "ab.txt"},
		{"right-to-left override", `attachment; filename*=utf-8''invoice%E2%80%AEfdp.exe`, "invoicefdp.exe"},
		{"bidi isolates", `attachment; filename*=utf-8''a%E2%81%A6b%E2%81%A9.txt`, "ab.txt"},
		{"spaces around", `attachment; filename="  spaced.txt  "`, "spaced.txt"},
		{"tab", "attachment; filename=\"tab\there.txt\"", "tabhere.txt"},
		{"invalid UTF-8", `attachment; filename*=utf-8''caf%E9.txt`, "caf\uFFFD.txt"},
		{"too long, extension kept", `attachment; filename="` + long + `.pdf"`, long[:251] + ".pdf"},
		{"too long, multi-byte", `attachment; filename="` + strings.Repeat("é", 200) + `"`, strings.Repeat("é", 127)},
		{"too long, long extension", `attachment; filename="a.` + long + `"`, "a." + long[:253]},
	} {
		t.Run(c.name, func(t *testing.T) {
			part := "Content-Type: application/octet-stream\nContent-Disposition: " + c.header + "\n\nx"
			if c.name == "climbing, Content-Type name" {
				part = "Content-Type: application/octet-stream; name=\"../../etc/passwd\"\nContent-Disposition: " + c.header + "\n\nx"
			}
			res := parse(t, wire(multipartMessage(textPart, part)), nil)
			if len(res.m.Attachments) != 1 {
				t.Fatalf("%d attachments, want 1 (error %v)", len(res.m.Attachments), res.err)
			}
			if got := res.m.Attachments[0].Filename; got != c.want {
				t.Errorf("Filename = %q, want %q", got, c.want)
			}
			if c.name == "invalid UTF-8" {
				checkProblems(t, res.err, wantProblem{Part: "2", Text: `file name "caf\xe9.txt" is not valid UTF-8`})
			} else {
				checkProblems(t, res.err)
			}
		})
	}
}
