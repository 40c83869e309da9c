package auth

import (
	"crypto/sha256"
	"hash"
	"io"
)

// This file hashes a message body in the simple (RFC 6376 §3.4.3) or
// relaxed (§3.4.4) body canonicalization while it is read, in memory that
// does not grow with the body: a run of line ends or white space is held
// as a count, never as bytes, until what follows it shows whether it
// stays. A lone LF is taken for CRLF, as the dkim package and dkimpy do; a
// CR without an LF after it is an ordinary character.

// bodyHasher canonicalizes the body written to it and hashes the result.
type bodyHasher struct {
	relaxed bool
	h       hash.Hash
	out     [4096]byte // canonical bytes not yet hashed
	n       int

	cr    bool // a CR was the last byte, which an LF may follow
	crlfs int  // line ends held: they count only if something follows
	space bool // relaxed: spaces or tabs held, which a line end drops
	any   bool // relaxed: some canonical byte was written
}

func newBodyHasher(relaxed bool) *bodyHasher {
	return &bodyHasher{relaxed: relaxed, h: sha256.New()}
}

// Canonical bytes that are written often; a literal would be allocated
// at each call, since the hash keeps no slice but the compiler cannot
// know it.
var (
	crlfBytes  = []byte("\r\n")
	spaceBytes = []byte(" ")
	crBytes    = []byte("\r")
)

// emit adds canonical bytes.
func (b *bodyHasher) emit(p []byte) {
	if len(p) > len(b.out)-b.n {
		b.h.Write(b.out[:b.n])
		b.n = 0
		if len(p) > len(b.out) {
			b.h.Write(p)
			return
		}
	}
	b.n += copy(b.out[b.n:], p)
}

// release writes the line ends and white space held, which the content
// that follows them keeps.
func (b *bodyHasher) release() {
	for ; b.crlfs > 0; b.crlfs-- {
		b.emit(crlfBytes)
	}
	if b.space {
		b.emit(spaceBytes)
		b.space = false
	}
}

// ordinary tells the bytes that are neither line ends nor, in relaxed,
// white space: runs of them are hashed as they are.
var ordinary = func() (t [2][256]bool) {
	for ch := range 256 {
		t[0][ch] = ch != '\r' && ch != '\n'
		t[1][ch] = t[0][ch] && ch != ' ' && ch != '\t'
	}
	return t
}()

// Write canonicalizes p; it never fails.
func (b *bodyHasher) Write(p []byte) (int, error) {
	plain := &ordinary[0]
	if b.relaxed {
		plain = &ordinary[1]
	}
	for i := 0; i < len(p); i++ {
		ch := p[i]
		if b.cr {
			b.cr = false
			if ch == '\n' {
				b.lineEnd()
				continue
			}
			b.release()
			b.emit(crBytes) // a CR alone
			b.any = true
		}
		switch {
		case ch == '\r':
			b.cr = true
		case ch == '\n':
			b.lineEnd()
		case !plain[ch]:
			b.space = true // relaxed white space
		default:
			b.release()
			j := i + 1
			for j < len(p) && plain[p[j]] {
				j++
			}
			b.emit(p[i:j])
			b.any = true
			i = j - 1
		}
	}
	return len(p), nil
}

func (b *bodyHasher) lineEnd() {
	b.space = false // relaxed: white space at the end of a line goes
	b.crlfs++
}

// sum ends the body and returns its hash. The line ends at the end of the
// body go but one, which ends the last line; simple gives an empty body
// one CRLF, relaxed leaves it empty.
func (b *bodyHasher) sum() []byte {
	if b.cr {
		b.cr = false
		b.release()
		b.emit(crBytes)
		b.any = true
	}
	b.space = false
	if !b.relaxed || b.any {
		b.emit(crlfBytes)
	}
	b.h.Write(b.out[:b.n])
	b.n = 0
	return b.h.Sum(nil)
}

// hashBody reads r to its end and returns the hash of the body it holds,
// in the relaxed or simple body canonicalization. The error is r's.
func hashBody(r io.Reader, relaxed bool) ([]byte, error) {
	b := newBodyHasher(relaxed)
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		b.Write(buf[:n])
		if err == io.EOF {
			return b.sum(), nil
		}
		if err != nil {
			return nil, err
		}
	}
}
