package postgres

import (
	"bytes"
	"crypto/sha256"
	"testing"
)

// referenceSplit finds the end of the header of a whole message the plain
// way: the first line that is empty (LF or CR LF alone), the message's
// first line included. It returns the index past that line, or -1.
func referenceSplit(msg []byte) int {
	for i := 0; i < len(msg); i++ {
		if i > 0 && msg[i-1] != '\n' {
			continue
		}
		switch {
		case bytes.HasPrefix(msg[i:], []byte("\n")):
			return i + 1
		case bytes.HasPrefix(msg[i:], []byte("\r\n")):
			return i + 2
		}
	}
	return -1
}

// checkSplit writes msg to a splitter in pieces of the given sizes (cycled)
// and compares its header and body hash with the reference.
func checkSplit(t *testing.T, msg []byte, max int, pieces []int) {
	t.Helper()
	s := newSplitter(max)
	rest := msg
	for i := 0; len(rest) > 0; i++ {
		n := len(rest)
		if len(pieces) > 0 {
			n = min(n, max1(pieces[i%len(pieces)]))
		}
		s.Write(rest[:n])
		rest = rest[n:]
	}
	end := referenceSplit(msg)
	header := msg
	if end >= 0 {
		header = msg[:end]
	}
	header = header[:min(len(header), max)]
	if !bytes.Equal(s.header, header) {
		t.Errorf("%q in pieces %v: header %q, want %q", msg, pieces, s.header, header)
	}
	sum, ok := s.bodySum()
	if ok != (end >= 0) {
		t.Fatalf("%q in pieces %v: body found %v, want %v", msg, pieces, ok, end >= 0)
	}
	if ok {
		if want := sha256.Sum256(msg[end:]); !bytes.Equal(sum, want[:]) {
			t.Errorf("%q in pieces %v: the body hash is not that of %q", msg, pieces, msg[end:])
		}
	}
}

func max1(n int) int { return max(n, 1) }

// TestSplitter covers the ways a header ends (RFC 5322 §2.1: the first
// empty line; a bare LF is taken as a line end too, as smtpd passes it in
// a message's text), and every cut of each message into two pieces.
func TestSplitter(t *testing.T) {
	msgs := []string{
		"", "\r\n", "\n", "\r\nbody", "\nbody",
		"A: b\r\n\r\nbody\r\n", "A: b\n\nbody\n", "A: b\r\n\nbody", "A: b\n\r\nbody",
		"A: b\r\n\r\n", "A: b\r\n", "A: b", "A: b\r\r\n\r\nbody", "A: b\r\n\r\r\nx\r\n\r\nbody",
		"A: b\r\n c\r\n\r\n\r\nbody", "\r\r\n\r\nbody", "A\rB\r\n\rC\r\n\r\nbody", "A: b\r\n \r\n\r\nbody",
	}
	for _, msg := range msgs {
		checkSplit(t, []byte(msg), maxHeaderBytes, nil)
		for cut := range len(msg) + 1 {
			s := newSplitter(maxHeaderBytes)
			s.Write([]byte(msg[:cut]))
			s.Write([]byte(msg[cut:]))
			ref := newSplitter(maxHeaderBytes)
			ref.Write([]byte(msg))
			if !bytes.Equal(s.header, ref.header) || s.inBody != ref.inBody || !bytes.Equal(s.body.Sum(nil), ref.body.Sum(nil)) {
				t.Errorf("%q cut at %d splits otherwise than whole", msg, cut)
			}
		}
	}
	// A header longer than max is kept up to max; the body is still found.
	long := append(bytes.Repeat([]byte("X-Long: yes\r\n"), 100), "\r\nbody"...)
	checkSplit(t, long, 50, []int{7})
}

// FuzzSplitter compares the splitter, fed in pieces, with the reference on
// the whole message.
func FuzzSplitter(f *testing.F) {
	f.Add([]byte("A: b\r\n\r\nbody"), 3, 0, 50)
	f.Add([]byte("\r\r\n\n"), 1, 2, 2)
	f.Add([]byte("A: b\n\r\nx"), 2, 1, 1000)
	f.Fuzz(func(t *testing.T, msg []byte, p1, p2, max int) {
		if max < 0 || max > 1<<20 {
			return
		}
		checkSplit(t, msg, max, []int{p1 % 64, p2 % 64})
	})
}

// TestReadHeaderCut checks that a header cut at maxHeaderBytes in the
// middle of a field drops that field rather than read half of it.
func TestReadHeaderCut(t *testing.T) {
	h := readHeader([]byte("Subject: whole\r\nFrom: alice@exa"))
	if h.subject != "whole" || h.from != "" {
		t.Errorf("readHeader of a cut header: %+v", h)
	}
	if h := readHeader([]byte("Subject: cut in the midd")); h != (summary{}) {
		t.Errorf("readHeader of a header cut in its first field: %+v", h)
	}
	if h := readHeader([]byte("Message-ID: <a@b>\r\n")); h.messageID != "a@b" {
		t.Errorf("readHeader: Message-ID %q, want a@b", h.messageID)
	}
}
