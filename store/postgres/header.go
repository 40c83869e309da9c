package postgres

import (
	"bytes"
	"crypto/sha256"
	"hash"
	"strings"
	"unicode"

	"github.com/ownmx/ownmx/message"
)

// maxHeaderBytes is the most of a message's header section that Deliver
// keeps to read From, Subject and Message-ID from; the rest of a longer
// header is not read.
const maxHeaderBytes = message.DefaultMaxHeaderBytes

// splitter is written a message's bytes in order, in pieces of any size.
// It keeps the header section (RFC 5322 §2.1), up to max bytes, and hashes
// the body: what follows the first empty line, CR LF or a bare LF.
type splitter struct {
	max       int
	header    []byte
	inBody    bool // the empty line has been seen
	lineStart bool // the next byte starts a line
	cr        bool // a line has started with CR
	body      hash.Hash
}

func newSplitter(max int) *splitter {
	return &splitter{max: max, lineStart: true, body: sha256.New()}
}

// Write never fails.
func (s *splitter) Write(p []byte) (int, error) {
	n := len(p)
	if !s.inBody {
		end := s.scan(p)
		head := p
		if end >= 0 {
			head = p[:end]
		}
		if room := s.max - len(s.header); room > 0 {
			s.header = append(s.header, head[:min(room, len(head))]...)
		}
		if end < 0 {
			return n, nil
		}
		s.inBody = true
		p = p[end:]
	}
	s.body.Write(p)
	return n, nil
}

// scan looks for the empty line that ends the header in p, which follows
// what was scanned before, and returns the index just past it, or -1.
func (s *splitter) scan(p []byte) int {
	for i, b := range p {
		switch {
		case b == '\n' && s.lineStart:
			return i + 1
		case b == '\n':
			s.lineStart, s.cr = true, false
		case b == '\r' && s.lineStart && !s.cr:
			s.cr = true
		default:
			s.lineStart, s.cr = false, false
		}
	}
	return -1
}

// bodySum returns the SHA-256 of the body, and false when the header had
// no end: then there is no body to tell two messages apart by.
func (s *splitter) bodySum() ([]byte, bool) {
	if !s.inBody {
		return nil, false
	}
	return s.body.Sum(nil), true
}

// summary is what Deliver reads from a message's header.
type summary struct {
	from, subject, messageID string
}

// readHeader reads the fields of summary from a header section, which may
// be cut short. Fields that cannot be read are left empty; the strings are
// valid UTF-8 without control characters, which PostgreSQL's text takes.
func readHeader(header []byte) summary {
	if i := bytes.LastIndexByte(header, '\n'); i >= 0 {
		header = header[:i+1] // a field cut off at max is dropped
	} else {
		header = nil
	}
	header = append(header[:len(header):len(header)], "\r\n"...)
	m, _ := message.Parse(bytes.NewReader(header)) // problems leave fields empty
	if m == nil {
		return summary{}
	}
	sum := summary{subject: m.Subject, messageID: m.MessageID}
	switch {
	case m.From.Address != "" && m.From.Name != "":
		sum.from = m.From.Name + " <" + m.From.Address + ">"
	case m.From.Address != "":
		sum.from = m.From.Address
	default:
		// Not an address (a display name alone, junk): show it as it is.
		v, err := m.Header.Text("From")
		if err != nil {
			v = m.Header.Get("From")
		}
		sum.from = cleanText(v)
	}
	return sum
}

// cleanText returns s as valid UTF-8 without NUL or other control
// characters but tab, which a text column refuses or a list shows badly.
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r != '\t' && unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}
