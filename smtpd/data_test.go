package smtpd

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// refData is the reference the DATA reader is checked against. It works
// on the byte stream as RFC 5321 §4.1.1.4 and §4.5.2 describe it, without
// splitting lines the way the reader does: the text after DATA starts a
// line, ends at the first CR LF "." CR LF (whose CR LF ends the last line
// of the message), and loses the first "." of every line that starts with
// one, a line starting only after CR LF.
type refResult struct {
	text     []byte // the message, unstuffed
	rest     []byte // the stream after the end marker
	complete bool   // the end marker was found
	bare     bool   // the message holds a CR or LF that is not part of CR LF
}

func refData(stream []byte) refResult {
	p := append([]byte("\r\n"), stream...)
	i := bytes.Index(p, []byte("\r\n.\r\n"))
	var res refResult
	msg := stream
	if i >= 0 {
		res.complete = true
		msg = p[2 : i+2]
		res.rest = p[i+5:]
	}
	for j, c := range msg {
		switch {
		case c == '\r' && (j+1 == len(msg) || msg[j+1] != '\n'):
			res.bare = true
		case c == '\n' && (j == 0 || msg[j-1] != '\r'):
			res.bare = true
		}
	}
	for _, line := range bytes.SplitAfter(msg, []byte("\r\n")) {
		res.text = append(res.text, bytes.TrimPrefix(line, []byte("."))...)
	}
	return res
}

// readData runs a dataReader over stream through a bufio.Reader of the
// given size, fed by reads of at most chunk bytes. It returns the text
// handed out, what is left of the stream after drain, the error that ended
// the reading (nil for io.EOF) and the connection error that stopped drain.
func readData(stream []byte, bufSize, chunk int, max int64) (text, rest []byte, err, drainErr error) {
	src := io.Reader(bytes.NewReader(stream))
	if chunk > 0 {
		src = &smallReads{r: src, n: chunk}
	}
	br := bufio.NewReaderSize(src, bufSize)
	dr := newDataReader(br, max, 0)
	text, err = io.ReadAll(dr)
	drainErr = dr.drain()
	rest, _ = io.ReadAll(br)
	return text, rest, err, drainErr
}

type smallReads struct {
	r io.Reader
	n int
}

func (s *smallReads) Read(p []byte) (int, error) {
	if len(p) > s.n {
		p = p[:s.n]
	}
	return s.r.Read(p)
}

// checkAgainstRef compares the reader with refData on one stream.
func checkAgainstRef(t *testing.T, stream []byte, bufSize, chunk int, max int64) {
	t.Helper()
	ref := refData(stream)
	text, rest, err, drainErr := readData(stream, bufSize, chunk, max)
	tooLarge := max > 0 && int64(len(ref.text)) > max
	switch {
	case !ref.complete:
		if !errors.Is(drainErr, io.ErrUnexpectedEOF) {
			t.Fatalf("stream %q has no end marker: the reader's drain ended with %v, want io.ErrUnexpectedEOF", stream, drainErr)
		}
		if !bytes.HasPrefix(ref.text, text) {
			t.Fatalf("stream %q: reader handed out %q, not a prefix of %q", stream, text, ref.text)
		}
		return
	case drainErr != nil:
		t.Fatalf("stream %q: drain ended with %v, though the message ends", stream, drainErr)
	case ref.bare || tooLarge:
		var e *Error
		if !errors.As(err, &e) || (e != ErrBareNewline && e != ErrMessageTooLarge) {
			t.Fatalf("stream %q (bare=%v, %d octets, max %d): reader ended with %v, want a refusal", stream, ref.bare, len(ref.text), max, err)
		}
		if e == ErrBareNewline && !ref.bare || e == ErrMessageTooLarge && !tooLarge {
			t.Fatalf("stream %q: refused with %v, which the reference does not see", stream, e)
		}
		if !bytes.HasPrefix(ref.text, text) {
			t.Fatalf("stream %q: reader handed out %q, not a prefix of %q", stream, text, ref.text)
		}
		if max > 0 && int64(len(text)) > max {
			t.Fatalf("stream %q: reader handed out %d octets over the limit of %d", stream, len(text), max)
		}
	default:
		if err != nil {
			t.Fatalf("stream %q: reader ended with %v, want the end of a good message", stream, err)
		}
		if !bytes.Equal(text, ref.text) {
			t.Fatalf("stream %q: reader handed out\n%q\nwant\n%q", stream, text, ref.text)
		}
	}
	if !bytes.Equal(rest, ref.rest) {
		t.Fatalf("stream %q: after the end marker the reader left\n%q\nwant\n%q", stream, rest, ref.rest)
	}
}

// The sequences of issue 9 (SMTP smuggling): each, plain and with its dot
// stuffed, inside a message that goes on with a whole second transaction
// and then ends for real.
var smuggleSequences = []string{
	"\n.\n", "\n.\r\n", "\r\n.\n", "\r.\r", "\r.\r\n", "\r.\n", "\n.\r",
	"\r\n.\r", "\r\n.\r\r\n", "\r\n\x00.\r\n", "\r\n.\x00\r\n",
}

const secondTransaction = "MAIL FROM:<admin@bank.test>\r\nRCPT TO:<me@example.com>\r\nDATA\r\n" +
	"From: admin@bank.test\r\nSubject: SMUGGLED\r\n\r\nsmuggled body"

func TestDataReaderSmuggling(t *testing.T) {
	for _, seq := range smuggleSequences {
		for _, stuffed := range []bool{false, true} {
			s := seq
			if stuffed {
				s = strings.Replace(seq, ".", "..", 1)
			}
			stream := []byte("Subject: first\r\n\r\nhello" + s + secondTransaction + "\r\n.\r\nNOOP\r\n")
			t.Run(strings.NewReplacer("\r", "CR", "\n", "LF", "\x00", "NUL").Replace(s), func(t *testing.T) {
				_, rest, err, _ := readData(stream, 4096, 0, 0)
				if string(rest) != "NOOP\r\n" {
					t.Errorf("the reader stopped before %q, want only the NOOP after the real end", rest)
				}
				// A NUL or a stuffed dot leaves a clean message: the
				// second transaction is text of the first.
				var want error
				if strings.ContainsAny(strings.ReplaceAll(s, "\r\n", ""), "\r\n") {
					want = ErrBareNewline
				}
				if err != want {
					t.Errorf("got %v, want %v", err, want)
				}
				for _, size := range []int{16, 17, 19, 64} {
					for _, chunk := range []int{0, 1, 3} {
						checkAgainstRef(t, stream, size, chunk, 0)
					}
				}
			})
		}
	}
}

// TestDataReaderLineEndsAcrossPieces covers a CR that ends a buffer-full
// piece of a long line: only an LF at the start of the next piece makes it
// a line end, whatever came of the piece in between.
func TestDataReaderLineEndsAcrossPieces(t *testing.T) {
	long := strings.Repeat("a", 15) // with a 16-byte buffer, the CR ends a piece
	for _, stream := range []string{
		long + "\rx\n\n.\r\nNOOP\r\n" + "tail\r\n.\r\n",
		long + "\r\n.\r\nNOOP\r\n",
		long + "\rx\r\n.\r\nNOOP\r\n",
		long + "\r\r\n.\r\nNOOP\r\n",
		long + "\r" + long + "\n.\r\nNOOP\r\n.\r\n",
		"." + long + "\r\n.\r\n",
		".\r\n",
		"..\r\n.\r\n",
	} {
		for _, chunk := range []int{0, 1, 2, 7} {
			checkAgainstRef(t, []byte(stream), 16, chunk, 0)
		}
	}
}

func TestDataReaderOneByteReads(t *testing.T) {
	stream := []byte("a\r\n..b\r\n.\r\nREST")
	br := bufio.NewReaderSize(iotest.OneByteReader(bytes.NewReader(stream)), 16)
	text, err := io.ReadAll(newDataReader(br, 0, 0))
	if err != nil || string(text) != "a\r\n.b\r\n" {
		t.Fatalf("got %q, %v", text, err)
	}
}

// FuzzDataReader compares the DATA reader with refData on arbitrary
// streams, small buffers and small reads, so that long lines are cut into
// pieces at every place: where the stream stands after the end marker, the
// text handed out, and whether the message is refused.
func FuzzDataReader(f *testing.F) {
	for _, seq := range smuggleSequences {
		f.Add([]byte("Subject: x\r\n\r\nhello"+seq+secondTransaction+"\r\n.\r\nNOOP\r\n"), uint8(0), uint8(0), uint16(0))
	}
	f.Add([]byte("..\r\n.\r\n"), uint8(0), uint8(1), uint16(0))
	f.Add([]byte("aaaaaaaaaaaaaaa\rx\n\n.\r\nQUIT\r\n.\r\n"), uint8(0), uint8(0), uint16(0))
	f.Add([]byte("Received: a\r\n\r\n0123456789\r\n.\r\n"), uint8(3), uint8(2), uint16(12))
	f.Fuzz(func(t *testing.T, stream []byte, size, chunk uint8, max uint16) {
		checkAgainstRef(t, stream, 16+int(size%64), int(chunk%8), int64(max))
	})
}
