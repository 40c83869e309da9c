package smtpd

import (
	"errors"
	"fmt"
	"io"
)

// A Data handler reads its message once, from the io.Reader it is given.
// When a middleware before it has kept the message whole (in a Spool),
// reading it a second time should not cost a second copy: the middleware
// hands the handler a reader that also has ReadAt and Size (an
// *io.SectionReader), and the handler asks for a fresh reader with Reread.
// This file holds the two halves of that agreement: Reread for handlers,
// MultiReaderAt for middleware that prepends a header field to a spooled
// message.

// SizeReaderAt is a message that can be read from any offset, as often as
// needed: ReadAt reads it as io.ReaderAt says, Size is its length in bytes.
// *io.SectionReader (what Spool.Reader and MultiReaderAt return),
// *bytes.Reader, *strings.Reader and *Spool have both methods.
type SizeReaderAt interface {
	io.ReaderAt
	Size() int64
}

// Reread returns a new reader of the whole message that a Data handler
// received as r, from its first byte, and true, when r can be read again
// without a copy: when r is a SizeReaderAt, as the *io.SectionReader that
// Spool.Reader or MultiReaderAt make is, whose ReadAt sees the message
// from its first byte however much of it has been Read. Each call returns
// an independent reader, which may be read from another goroutine.
//
// The reader is valid only while the handler runs: the middleware that
// spooled the message closes its Spool when the handler returns, and
// reads fail afterwards with ErrSpoolClosed.
//
// Reread reports false for any other reader, such as the server's own
// DATA reader; a handler that needs two reads then keeps the message
// itself:
//
//	msg, ok := smtpd.Reread(r)
//	if !ok {
//		sp := &smtpd.Spool{}
//		defer sp.Close()
//		if _, err := sp.ReadFrom(r); err != nil {
//			return err // the DATA reader's reply, such as 552
//		}
//		msg = sp.Reader()
//	}
func Reread(r io.Reader) (*io.SectionReader, bool) {
	m, ok := r.(SizeReaderAt)
	if !ok {
		return nil, false
	}
	return io.NewSectionReader(m, 0, m.Size()), true
}

// errShortPart is wrapped by the error of a MultiReaderAt whose part ends
// before the size it gave.
var errShortPart = errors.New("smtpd: part shorter than its Size")

// MultiReaderAt returns the parts one after another as one message, read
// from its first byte, that a handler can read again with Reread: a
// middleware that adds a header field to a spooled message hands next
// MultiReaderAt(bytes.NewReader(field), spool.Reader()). Nothing is
// copied: each read goes to the parts. Their sizes are taken now, and
// they must not change while the result is read; it may be read from
// several goroutines at once when the parts can.
func MultiReaderAt(parts ...SizeReaderAt) *io.SectionReader {
	m := &multiReaderAt{offs: []int64{0}}
	for _, p := range parts {
		if n := p.Size(); n > 0 {
			m.parts = append(m.parts, p)
			m.offs = append(m.offs, m.offs[len(m.offs)-1]+n)
		}
	}
	return io.NewSectionReader(m, 0, m.offs[len(m.offs)-1])
}

// multiReaderAt is the concatenation of parts: parts[i] runs from offs[i]
// to offs[i+1]. Empty parts are left out.
type multiReaderAt struct {
	parts []SizeReaderAt
	offs  []int64
}

// ReadAt reads len(p) bytes from off, crossing from one part to the next,
// as io.ReaderAt says: fewer only at the end (io.EOF) or on a part's error.
func (m *multiReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("smtpd: MultiReaderAt: negative offset %d", off)
	}
	if off >= m.offs[len(m.offs)-1] {
		return 0, io.EOF
	}
	i := 0
	for i < len(m.parts) && m.offs[i+1] <= off {
		i++
	}
	n := 0
	for ; n < len(p) && i < len(m.parts); i++ {
		local := off + int64(n) - m.offs[i]
		size := m.offs[i+1] - m.offs[i]
		want := min(int64(len(p)-n), size-local)
		got, err := m.parts[i].ReadAt(p[n:n+int(want)], local)
		n += got
		if int64(got) < want {
			if err == nil || err == io.EOF {
				err = fmt.Errorf("%w: part %d ends at byte %d of %d", errShortPart, i, local+int64(got), size)
			}
			return n, err
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
