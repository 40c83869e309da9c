package smtpd

import (
	"bufio"
	"bytes"
	"io"
)

// dataReader reads the text that follows DATA (RFC 5321 §4.1.1.4) from the
// client's buffered stream. It removes dot-stuffing (§4.5.2) and ends at
// CRLF "." CRLF and nowhere else. While reading it refuses, with an *Error
// returned from Read instead of io.EOF:
//   - a bare CR or a bare LF (§2.3.8): ErrBareNewline;
//   - more than max octets (RFC 1870): ErrMessageTooLarge, before octet max+1
//     is handed out, so a message of exactly max octets passes;
//   - more than maxReceived Received header fields (§6.3): ErrLoop.
//
// After such a refusal the reader still knows where the message ends:
// drain reads on to the end marker so the session can go on in step with
// the client. A read error from the connection (a timeout, a reset) is
// returned as is; the session cannot go on after it.
type dataReader struct {
	br          *bufio.Reader
	max         int64 // 0: no limit
	maxReceived int   // 0: no limit

	n        int64 // octets handed out
	received int   // Received fields seen in the header section

	pending   []byte // part of the current chunk not yet handed out
	lineStart bool   // the next chunk starts a line: the last one ended in CRLF
	prevCR    bool   // the last chunk ended in CR, its LF not yet seen
	header    bool   // still in the header section

	refused error // the *Error that refuses the message, if any
	netErr  error // the connection's read error, if any
	done    bool  // the end marker was read
}

func newDataReader(br *bufio.Reader, max int64, maxReceived int) *dataReader {
	return &dataReader{br: br, max: max, maxReceived: maxReceived, lineStart: true, header: true}
}

// Read hands out message text until the end marker (io.EOF), a refusal
// (an *Error) or a connection error.
func (r *dataReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(r.pending) > 0 {
			k := copy(p[n:], r.pending)
			r.pending = r.pending[k:]
			n += k
			continue
		}
		if r.err() != nil {
			break
		}
		r.next()
	}
	if n > 0 {
		return n, nil
	}
	return 0, r.err()
}

// err is what Read returns once no text is pending.
func (r *dataReader) err() error {
	switch {
	case r.netErr != nil:
		return r.netErr
	case r.refused != nil:
		return r.refused
	case r.done:
		return io.EOF
	}
	return nil
}

// drain reads to the end marker, discarding text, and returns the
// connection's read error, if one stops it.
func (r *dataReader) drain() error {
	r.pending = nil
	for !r.done && r.netErr == nil {
		r.next()
		r.pending = nil
	}
	return r.netErr
}

// next reads one chunk: a whole line, or a buffer-full piece of a long one,
// checks it and leaves what may be handed out in r.pending.
//
// A line starts only after CR LF. A "." after a bare LF or a bare CR is
// text, not the start of the end marker: the end is the byte sequence
// CR LF "." CR LF and nothing else, so that a message that holds
// "<LF>.<CR><LF>" (the SMTP smuggling of CVE-2023-51764) is read, and
// refused, to its real end, and nothing inside it is taken for a command.
func (r *dataReader) next() {
	chunk, err := r.br.ReadSlice('\n')
	if err != nil && err != bufio.ErrBufferFull {
		// The stream stopped inside the message: what was read of the
		// last line is not handed out.
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		r.netErr = err
		return
	}
	complete := err == nil
	atLineStart := r.lineStart
	n := len(chunk)
	r.lineStart = complete && (n >= 2 && chunk[n-2] == '\r' || n == 1 && r.prevCR)
	endsOK := r.lineEndsOK(chunk, complete)

	if atLineStart && chunk[0] == '.' {
		if complete && n == 3 && chunk[1] == '\r' {
			r.done = true
			return
		}
		chunk = chunk[1:]
	}
	if r.refused != nil {
		return
	}
	if !endsOK {
		r.refuse(ErrBareNewline)
		return
	}
	if r.header && atLineStart {
		switch {
		case len(chunk) == 2 && chunk[0] == '\r':
			r.header = false
		case hasPrefixFold(chunk, "received:"):
			r.received++
			if r.maxReceived > 0 && r.received > r.maxReceived {
				r.refuse(ErrLoop)
				return
			}
		}
	}
	if r.max > 0 && r.n+int64(len(chunk)) > r.max {
		r.refuse(ErrMessageTooLarge)
		return
	}
	r.n += int64(len(chunk))
	r.pending = chunk
}

// lineEndsOK reports whether CR and LF appear in chunk only as CRLF,
// carrying a CR at the end of a piece of a long line over to the next one.
// It keeps that carry right whatever it reports: the reader goes on
// looking for the end marker after a refusal.
func (r *dataReader) lineEndsOK(chunk []byte, complete bool) bool {
	ok := !r.prevCR || chunk[0] == '\n'
	body := chunk
	if complete {
		body = body[:len(body)-1] // the LF
		switch {
		case len(body) > 0 && body[len(body)-1] == '\r':
			body = body[:len(body)-1]
		case len(body) == 0 && r.prevCR:
		default:
			ok = false // bare LF
		}
		r.prevCR = false
	} else {
		r.prevCR = body[len(body)-1] == '\r'
		if r.prevCR {
			body = body[:len(body)-1]
		}
	}
	return ok && bytes.IndexByte(body, '\r') < 0
}

func (r *dataReader) refuse(e *Error) {
	r.refused = e
	r.pending = nil
}

// hasPrefixFold reports whether b starts with prefix, ignoring ASCII case;
// prefix must be lower case.
func hasPrefixFold(b []byte, prefix string) bool {
	if len(b) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

// messageReader is what the Data handler reads: the Received header, then
// the message. It has no WriteTo, unlike io.MultiReader, whose WriteTo
// allocates a 32 KiB buffer per call: io.Copy(io.Discard, r) and other
// io.Copy calls then take the destination's ReadFrom, which pools its
// buffers, or their own buffer.
type messageReader struct {
	head string
	dr   *dataReader
}

func (m *messageReader) Read(p []byte) (int, error) {
	if len(m.head) > 0 {
		n := copy(p, m.head)
		m.head = m.head[n:]
		return n, nil
	}
	return m.dr.Read(p)
}
