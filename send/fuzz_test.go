package send_test

import (
	"strings"
	"testing"
)

// boundedReference is the header of msg as a Bounce returns it, the
// simple way: lines end at LF, CRs before it are dropped and others made
// spaces, a blank line ends the header, CRLF ends each line, and only
// the whole lines that fit in max bytes are kept (max < 0: all).
func boundedReference(msg string, max int) string {
	var out strings.Builder
	lines := strings.SplitAfter(msg, "\n")
	for _, line := range lines {
		if line == "" {
			break
		}
		content := strings.TrimRight(line, "\r\n")
		if content == "" && strings.HasSuffix(line, "\n") {
			break
		}
		content = strings.ReplaceAll(content, "\r", " ")
		if max >= 0 && out.Len()+len(content)+2 > max {
			break
		}
		out.WriteString(content + "\r\n")
	}
	return out.String()
}

// FuzzBounceHeader: whatever the original header and the bound, the
// returned part is the reference's, and the DSN parses.
func FuzzBounceHeader(f *testing.F) {
	f.Add(origHeader+"\r\nbody", 100)
	f.Add("A: 1\nB: 2\n\nbody", 7)
	f.Add("A: 1\r\nB: "+strings.Repeat("x", 300)+"\r\n", 200)
	f.Add("A: 1\rx\r\r\nB: 2\r\n\r\n", -1)
	f.Add("\r\nbody", 10)
	f.Add("A: é\r\n", 0)
	f.Fuzz(func(t *testing.T, header string, max int) {
		if max > 1<<20 || max < -1<<20 {
			return
		}
		b := testBounce()
		b.Header, b.MaxHeaderBytes = strings.NewReader(header), max
		m, err := b.Message()
		if err != nil {
			t.Fatal(err)
		}
		d := parseDSN(t, m)
		bound := max
		if max == 0 {
			bound = 64 << 10 // DefaultMaxHeaderBytes
		}
		if want := boundedReference(header, bound); d.returned != want {
			t.Errorf("header %q, MaxHeaderBytes %d: returned %q, want %q", header, max, d.returned, want)
		}
	})
}
