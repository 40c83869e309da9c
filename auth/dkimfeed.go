package auth

import (
	"bytes"
	"context"
	"io"
)

// This file feeds a message's body to the dkim package, one verifier per
// signature, so that checking costs time in proportion to the body's size.
//
// The dkim package (go-msgauth v0.7.0) costs time in the square of the
// length of a run of empty lines when it is given the body in small
// writes: its simple body canonicalizer (RFC 6376 §3.4.3) keeps the CRLFs
// at the end of what it was given, since they may be the body's last, and
// copies and scans all of them again at each write. It reads the body 4
// KiB at a time, and for several signatures pipes it to one goroutine
// each, which reads its pipe 32 KiB at a time: 8 MiB of empty lines took
// 27 s of CPU.
//
// So each signature is checked on its own (dkimHeader.viewFor), where the
// dkim package hands the body to its reader's WriteTo method with the
// canonicalizer itself as the writer (through bufio.Reader.WriteTo), and
// bodyFeed.WriteTo writes to it the pieces that feedBody cut, which never
// end with line ends the canonicalizer would hold for the next write. A
// run of CRLFs is held back, counted, until what follows it is read, and
// sent with that in one write: the canonicalizer scans it once. A run of
// CRLFs that ends the body is not sent at all, since both
// canonicalizations drop it there (RFC 6376 §3.4.3, §3.4.4): the empty
// lines of the attack cost only their reading. The canonicalizers' output
// does not depend on how the body is cut into writes;
// TestDKIMBodyDifferential checks it against a plain reading of the RFC.

// bodyChunkSize is how much of the body is read at a time and handed to
// every signature's verifier.
const bodyChunkSize = 64 << 10

// ctxReader reads from r until ctx is done, then fails with ctx's error.
// It is what stops a check when its connection goes away or its time is
// up: the body is read through it.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// bodyFeed is the reader that one signature's verifier reads the message
// from: the header it is to see, then the body, which feedBody sends in
// chunks.
type bodyFeed struct {
	head   []byte
	rest   []byte      // what Read has not yet returned of the last chunk
	chunks chan []byte // closed by feedBody after the last chunk
	err    error       // why the body ended: nil at its end; set before chunks is closed
	done   chan struct{}
}

func newBodyFeed(head []byte) *bodyFeed {
	return &bodyFeed{head: head, chunks: make(chan []byte, 4), done: make(chan struct{})}
}

// finish tells feedBody that the verifier reads no more. The verifier may
// return without reading the body at all, such as when its key is
// missing.
func (f *bodyFeed) finish() { close(f.done) }

// next returns the next chunk of the body, or the error that ends it:
// io.EOF at its end.
func (f *bodyFeed) next() ([]byte, error) {
	chunk, ok := <-f.chunks
	switch {
	case ok:
		return chunk, nil
	case f.err != nil:
		return nil, f.err
	}
	return nil, io.EOF
}

// Read returns the header, then the body. The dkim package reads the
// header through a bufio.Reader and then asks it for the body with
// WriteTo, which calls bodyFeed.WriteTo; Read returns body bytes only if
// a version of the package reads differently.
func (f *bodyFeed) Read(p []byte) (int, error) {
	if len(f.head) > 0 {
		n := copy(p, f.head)
		f.head = f.head[n:]
		return n, nil
	}
	if len(f.rest) == 0 {
		chunk, err := f.next()
		if err != nil {
			return 0, err
		}
		f.rest = chunk
	}
	n := copy(p, f.rest)
	f.rest = f.rest[n:]
	return n, nil
}

// WriteTo writes what Read has not returned to w, the dkim package's body
// canonicalizer, one piece at a time as feedBody cut them.
func (f *bodyFeed) WriteTo(w io.Writer) (int64, error) {
	var n int64
	chunk := append(f.head, f.rest...)
	f.head, f.rest = nil, nil
	for {
		if len(chunk) > 0 {
			m, err := w.Write(chunk)
			n += int64(m)
			if err != nil {
				return n, err
			}
		}
		var err error
		chunk, err = f.next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// feedBody reads body to its end and sends it to each feed whose verifier
// still reads, then closes the feeds with the error that ended the body:
// nil at its end, else body's, which is ctx's when ctx ended. It reads
// through ctxReader; it stops sending when ctx ends.
func feedBody(ctx context.Context, body io.Reader, feeds []*bodyFeed) error {
	err := sendBody(ctx, body, feeds)
	for _, f := range feeds {
		f.err = err
		close(f.chunks)
	}
	return err
}

func sendBody(ctx context.Context, body io.Reader, feeds []*bodyFeed) error {
	active := append([]*bodyFeed(nil), feeds...)
	send := func(piece []byte) error {
		kept := active[:0]
		for _, f := range active {
			select {
			case f.chunks <- piece:
				kept = append(kept, f)
			case <-f.done:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		active = kept
		return nil
	}
	var run lineEndRun // line ends read and not yet sent
	var buf []byte
	for len(active) > 0 {
		if buf == nil {
			buf = make([]byte, bodyChunkSize)
		}
		n, err := body.Read(buf)
		sent, serr := cutPieces(buf[:n], &run, send)
		if serr != nil {
			return serr
		}
		if sent {
			buf = nil // the feeds may hold on to a piece of it
		}
		switch {
		case err == io.EOF && run.ignoredAtEnd():
			return nil
		case err == io.EOF:
			return send(run.take(nil))
		case err != nil:
			return err
		}
	}
	// No verifier reads the body: read it to its end for the sake of its
	// read errors, which are the caller's.
	_, err := io.Copy(io.Discard, body)
	return err
}

// cutPieces sends data, after run, but for the line ends at its end that
// the simple canonicalizer would hold (heldSuffix), which it adds to run.
// It reports whether it sent any of data. The run goes in one piece with
// what follows it, and every piece sent ends with a byte other than LF,
// or with a CR that stands alone, before another CR.
func cutPieces(data []byte, run *lineEndRun, send func([]byte) error) (bool, error) {
	held := heldSuffix(data)
	if held == 0 {
		if run.cr && len(data) > 0 && data[0] == '\r' {
			// The run's CR stands alone: the run ends with it.
			if err := send(run.take(nil)); err != nil {
				return false, err
			}
		}
		run.add(data)
		return false, nil
	}
	piece := data[:held]
	if !run.empty() {
		piece = run.take(piece)
	}
	if err := send(piece); err != nil {
		return true, err
	}
	run.add(data[held:])
	return true, nil
}

// heldSuffix returns where the line ends start that the dkim package's
// simple canonicalizer would hold at the end of data: CRLFs and LFs (it
// takes a lone LF for CRLF), then perhaps a CR, which the next byte may
// pair with.
func heldSuffix(data []byte) int {
	i := len(data)
	if i > 0 && data[i-1] == '\r' {
		i--
	}
	for i > 0 && data[i-1] == '\n' {
		i--
		if i > 0 && data[i-1] == '\r' {
			i--
		}
	}
	return i
}

// lineEndRun is the line ends read and not yet sent, as heldSuffix finds
// them: LFs, each alone or after a CR, then perhaps a CR. The dkim package
// reads each LF as CRLF, so only the number of LFs is kept: a run of empty
// lines, however long, takes no memory until it is sent.
type lineEndRun struct {
	lfs int  // CRLFs and lone LFs
	cr  bool // a CR at the end, which the next byte may pair with
}

func (r *lineEndRun) empty() bool { return r.lfs == 0 && !r.cr }

// add appends line ends, as heldSuffix finds them, to the run: an LF
// first pairs with the run's CR.
func (r *lineEndRun) add(ends []byte) {
	if len(ends) == 0 {
		return
	}
	r.lfs += bytes.Count(ends, []byte{'\n'})
	r.cr = ends[len(ends)-1] == '\r'
}

// ignoredAtEnd reports whether the run, at the end of the body, changes
// nothing in either canonicalization: only CRLFs, which both drop there
// (RFC 6376 §3.4.3, §3.4.4).
func (r *lineEndRun) ignoredAtEnd() bool { return !r.cr }

// take returns the run written out, then after, and empties the run.
func (r *lineEndRun) take(after []byte) []byte {
	b := make([]byte, 2*r.lfs, 2*r.lfs+1+len(after))
	if r.lfs > 0 {
		// Fill by doubling what is there: a copy is faster than a loop.
		n := copy(b, "\r\n")
		for n < len(b) {
			n += copy(b[n:], b[:n])
		}
	}
	if r.cr {
		b = append(b, '\r')
	}
	*r = lineEndRun{}
	return append(b, after...)
}
