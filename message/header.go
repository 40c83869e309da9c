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
// the empty line that ends it, keeping at most limit bytes of it (limit < 0:
// no limit), each field counting extra headerFieldCost bytes when
// fieldCost is set. It returns the fields kept, in order, and the problems
// met: malformed lines are left out (go-message's reader would stop at
// the first one and read the rest of the header as body), and past the
// limit the rest of the header is read and discarded, so the body is
// still found. Memory stays within limit however long the lines are.
func readHeader(br *bufio.Reader, limit int, fieldCost bool) (h mail.Header, problems []error) {
	budget := limit
	if limit < 0 {
		budget = math.MaxInt
	}
	cost := 0
	if fieldCost {
		cost = headerFieldCost
	}
	var (
		block     []byte // the fields kept, raw, one after another
		starts    []int  // where each kept field starts in block
		keeping   bool   // the current field is kept: its continuations are too
		over      bool   // the limit was reached: skip to the end of the header
		lineNo    int
		malformed int
		firstBad  []byte
		firstLine int
		lr        lineReader
	)
	for {
		// Past the limit, lines are still read to find the empty line.
		line, long, err := lr.read(br, max(budget-len(block)-len(starts)*cost, 2))
		if len(line) == 0 && !long {
			break // the message ends inside the header, or just after it
		}
		if !long && isBlankLine(line) {
			break
		}
		lineNo++
		switch {
		case over:
		case long || len(block)+len(line)+(len(starts)+1)*cost > budget:
			over = true
			if keeping { // a field cut in two is left out whole
				block, starts = block[:starts[len(starts)-1]], starts[:len(starts)-1]
			}
			problems = append(problems, fmt.Errorf("%w (%d bytes): the fields from line %d on were left out", ErrHeaderTooLong, limit, lineNo))
		case line[0] == ' ' || line[0] == '\t':
			if keeping {
				block = append(block, line...)
			} else if len(starts) == 0 && malformed == 0 {
				malformed, firstBad, firstLine = 1, append([]byte(nil), line...), lineNo
			}
		case !validFieldLine(line):
			keeping = false
			if malformed == 0 {
				firstBad, firstLine = append([]byte(nil), line...), lineNo
			}
			malformed++
		default:
			keeping = true
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
	if malformed > 0 {
		problems = append(problems, fmt.Errorf("header: %d malformed lines left out, the first (line %d): %q", malformed, firstLine, quoteCut(firstBad)))
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

// read returns the next line with its end of line. A line longer than
// limit bytes is read to its end and discarded: read returns long = true
// and no bytes of it.
func (lr *lineReader) read(br *bufio.Reader, limit int) (line []byte, long bool, err error) {
	lr.buf = lr.buf[:0]
	for {
		chunk, err := br.ReadSlice('\n')
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
			if len(lr.buf) == 0 && !long {
				err = io.EOF
			}
		}
		return lr.buf, long, err
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
