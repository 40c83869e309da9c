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

	pending []byte // part of the current chunk not yet handed out
	lineEnd bool   // the last chunk ended a line (the next one starts one)
	prevCR  bool   // the last chunk ended in CR, its LF not yet seen
	header  bool   // still in the header section

	refused error // the *Error that refuses the message, if any
	netErr  error // the connection's read error, if any
	done    bool  // the end marker was read
}

func newDataReader(br *bufio.Reader, max int64, maxReceived int) *dataReader {
	return &dataReader{br: br, max: max, maxReceived: maxReceived, lineEnd: true, header: true}
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
	atLineStart := r.lineEnd
	r.lineEnd = complete

	if atLineStart && len(chunk) > 0 && chunk[0] == '.' {
		if complete && len(chunk) == 3 && chunk[1] == '\r' {
			r.done = true
			return
		}
		chunk = chunk[1:]
	}
	if r.refused != nil {
		return
	}
	if !r.lineEndsOK(chunk, complete) {
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
func (r *dataReader) lineEndsOK(chunk []byte, complete bool) bool {
	if r.prevCR && (len(chunk) == 0 || chunk[0] != '\n') {
		return false
	}
	body := chunk
	if complete {
		body = body[:len(body)-1] // the LF
		switch {
		case len(body) > 0 && body[len(body)-1] == '\r':
			body = body[:len(body)-1]
		case len(body) == 0 && r.prevCR:
		default:
			return false // bare LF
		}
		r.prevCR = false
	} else {
		r.prevCR = len(body) > 0 && body[len(body)-1] == '\r'
		if r.prevCR {
			body = body[:len(body)-1]
		}
	}
	return bytes.IndexByte(body, '\r') < 0
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
