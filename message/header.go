package message

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// readHeader reads a header (RFC 5322 §2.2) from br up to and including
// the empty line that ends it, keeping at most limit bytes of it (limit <
// 0: no limit), each field counting extra headerFieldCost bytes when
// fieldCost is set. It returns the fields kept, in order, and the problems
// met. A malformed line is left out and the header goes on (go-message's
// reader would stop there and read the rest of the header as body); a
// field that does not fit in what is left of the limit is left out, read
// and discarded, so that later fields and the body are still found.
// Memory stays within limit however long the lines are.
func readHeader(br *bufio.Reader, limit int, fieldCost bool) (h mail.Header, problems []error) {
	budget := limit
	if limit < 0 {
		budget = math.MaxInt
	}
	cost := 0
	if fieldCost {
		cost = headerFieldCost
	}
	const (
		none    = iota // no field yet
		kept           // the current field is kept: its continuations too
		dropped        // the current field is left out: its continuations too
	)
	var (
		block     []byte // the fields kept, raw, one after another
		starts    []int  // where each kept field starts in block
		state     = none
		lineNo    int
		malformed struct {
			n, line int
			first   []byte
		}
		tooLong struct{ n, line int }
		lr      lineReader
	)
	leftOut := func() {
		tooLong.n++
		if tooLong.n == 1 {
			tooLong.line = lineNo
		}
		state = dropped
	}
	for {
		// Past the limit, lines are still read to find the empty line.
		left := budget - len(block) - len(starts)*cost
		line, first, long, err := lr.read(br, max(left, 2))
		if first < 0 {
			break // the message ends inside the header, or just after it
		}
		if !long && isBlankLine(line) {
			break
		}
		lineNo++
		continuation := first == ' ' || first == '\t'
		switch {
		case continuation && state == kept && !long && len(line) <= left:
			block = append(block, line...)
		case continuation && state == kept: // the field no longer fits
			block, starts = block[:starts[len(starts)-1]], starts[:len(starts)-1]
			leftOut()
		case continuation && state == dropped:
		case long || len(line)+cost > left:
			leftOut()
		case continuation || !validFieldLine(line):
			malformed.n++
			if malformed.n == 1 {
				malformed.line, malformed.first = lineNo, append([]byte(nil), line...)
			}
			state = dropped
		default:
			state = kept
			starts = append(starts, len(block))
			block = append(block, line...)
			if line[len(line)-1] != '\n' {
				block = append(block, '\r', '\n')
			}
		}
		if err != nil {
			break
		}
	}
	if tooLong.n > 0 {
		problems = append(problems, errorf(ErrHeaderTooLong, " (%d bytes): %d fields left out, the first at line %d", limit, tooLong.n, tooLong.line))
	}
	if malformed.n > 0 {
		problems = append(problems, fmt.Errorf("header: %d malformed lines left out, the first (line %d): %q", malformed.n, malformed.line, quoteCut(malformed.first)))
	}
	var th textproto.Header
	// A textproto.Header keeps its fields last first: add them backwards.
	for i := len(starts) - 1; i >= 0; i-- {
		end := len(block)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		th.AddRaw(block[starts[i]:end:end])
	}
	return mail.Header{Header: gomessage.Header{Header: th}}, problems
}

// A lineReader reads lines from a bufio.Reader into one buffer it reuses.
type lineReader struct{ buf []byte }

// read returns the next line with its end of line, and its first byte (-1
// at the end of the input). A line longer than limit bytes is read to its
// end and discarded: read returns long = true and no bytes of it.
func (lr *lineReader) read(br *bufio.Reader, limit int) (line []byte, first int, long bool, err error) {
	lr.buf, first = lr.buf[:0], -1
	for {
		chunk, err := br.ReadSlice('\n')
		if first < 0 && len(chunk) > 0 {
			first = int(chunk[0])
		}
		if !long {
			if len(lr.buf)+len(chunk) > limit {
				long, lr.buf = true, lr.buf[:0]
			} else {
				lr.buf = append(lr.buf, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == io.EOF {
			err = nil
			if first < 0 {
				err = io.EOF
			}
		}
		return lr.buf, first, long, err
	}
}

func isBlankLine(line []byte) bool {
	return len(line) == 1 && line[0] == '\n' || len(line) == 2 && line[0] == '\r' && line[1] == '\n'
}

// validFieldLine reports whether line starts a header field: a name of
// printable ASCII but ":", then ":" (RFC 5322 §2.2, §3.6.8), allowing
// the white space before the colon of the obsolete syntax (RFC 5322
// §4.5).
func validFieldLine(line []byte) bool {
	name, _, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return false
	}
	name = bytes.TrimRight(name, " \t")
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// quoteCut returns at most the first 80 bytes of b, for an error message.
func quoteCut(b []byte) string {
	b = bytes.TrimRight(b, "\r\n")
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}
