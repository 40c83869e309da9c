package message_test

import (
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/ownmx/ownmx/message"
)

// A big message made on the fly, so that its size does not count in the
// heap of the test that parses it.
type bigMessage struct {
	name string
	size int64 // about
	new  func() io.Reader
}

// repeat yields line n times.
type repeat struct {
	line string
	n    int64
	off  int
}

func (r *repeat) Read(p []byte) (int, error) {
	total := 0
	for len(p) > 0 && r.n > 0 {
		c := copy(p, r.line[r.off:])
		p, total, r.off = p[c:], total+c, r.off+c
		if r.off == len(r.line) {
			r.off, r.n = 0, r.n-1
		}
	}
	if total == 0 && r.n == 0 {
		return 0, io.EOF
	}
	return total, nil
}

// lines yields line(0) to line(n-1).
type lines struct {
	line func(i int64) string
	i, n int64
	rest string
}

func (l *lines) Read(p []byte) (int, error) {
	for l.rest == "" {
		if l.i == l.n {
			return 0, io.EOF
		}
		l.rest, l.i = l.line(l.i), l.i+1
	}
	n := copy(p, l.rest)
	l.rest = l.rest[n:]
	return n, nil
}

const (
	base64Line = "TG9yZW0gaXBzdW0gZG9sb3Igc2l0IGFtZXQsIGNvbnNlY3RldHVyIGFkaXBpc2NpbmcgZWxpdC4g\r\n" // 78 bytes
	mib        = 1 << 20
)

func str(s string) io.Reader { return strings.NewReader(s) }

var bigHeader = strings.ReplaceAll(received+"From: a@example.com\nTo: b@example.com\nSubject: big\nMIME-Version: 1.0\n", "\n", "\r\n")

// manyParts is a message of about size bytes in n parts: a text and n-1
// base64 attachments.
func manyParts(size int64, n int) bigMessage {
	lines := size / int64(n-1) / int64(len(base64Line))
	return bigMessage{fmt.Sprintf("%d parts, %d MiB", n, size/mib), size, func() io.Reader {
		rs := []io.Reader{str(bigHeader + "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nthe text\r\n")}
		for i := 2; i <= n; i++ {
			rs = append(rs, str(fmt.Sprintf("--b\r\nContent-Type: image/jpeg\r\nContent-Disposition: attachment; filename=\"photo %d.jpg\"\r\nContent-Transfer-Encoding: base64\r\n\r\n", i)),
				&repeat{line: base64Line, n: lines})
		}
		return io.MultiReader(append(rs, str("--b--\r\n"))...)
	}}
}

// oneAttachment is a message of about size bytes, most of it one base64
// attachment.
func oneAttachment(size int64) bigMessage {
	return bigMessage{fmt.Sprintf("1 attachment, %d MiB", size/mib), size, func() io.Reader {
		return io.MultiReader(
			str(bigHeader+"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nthe text\r\n"+
				"--b\r\nContent-Type: application/zip\r\nContent-Disposition: attachment; filename=all.zip\r\nContent-Transfer-Encoding: base64\r\n\r\n"),
			&repeat{line: base64Line, n: size / int64(len(base64Line))},
			str("--b--\r\n"))
	}}
}

// hostile are messages of about size bytes shaped to make a parser hold
// them whole: each part of them that can grow is huge.
func hostile(size int64) []bigMessage {
	n := size / 80
	return []bigMessage{
		{"text body", size, func() io.Reader {
			return io.MultiReader(str(bigHeader+"\r\n"), &repeat{line: strings.Repeat("text ", 15) + "\r\n", n: n})
		}},
		{"HTML body, quoted-printable", size, func() io.Reader {
			return io.MultiReader(str(bigHeader+"Content-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"),
				&repeat{line: strings.Repeat("<p>=C3=A9</p>", 5) + "=\r\n", n: n})
		}},
		{"one header line", size, func() io.Reader {
			return io.MultiReader(str(bigHeader+"X-Long: "), &repeat{line: strings.Repeat("x", 80), n: n}, str("\r\n\r\nbody"))
		}},
		{"tiny header fields", size, func() io.Reader {
			return io.MultiReader(str(bigHeader), &repeat{line: "X-A: b\r\n", n: size / 8}, str("\r\nbody"))
		}},
		{"folded header field", size, func() io.Reader {
			return io.MultiReader(str(bigHeader+"X-Folded: a\r\n"), &repeat{line: " b\r\n", n: size / 4}, str("\r\nbody"))
		}},
		{"one part header", size, func() io.Reader {
			return io.MultiReader(str(bigHeader+"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nX-Long: "),
				&repeat{line: "y", n: size}, str("\r\n\r\nbody\r\n--b--\r\n"))
		}},
		{"tiny parts", size, func() io.Reader {
			return io.MultiReader(str(bigHeader+"Content-Type: multipart/mixed; boundary=b\r\n\r\n"),
				&repeat{line: "--b\r\nContent-Type: image/gif; name=x.gif\r\nContent-ID: <x@y>\r\n\r\nx\r\n", n: n})
		}},
		{"tiny parts with long names", size, func() io.Reader {
			return io.MultiReader(str(bigHeader+"Content-Type: multipart/mixed; boundary=b\r\n\r\n"),
				&lines{n: n, line: func(i int64) string {
					return fmt.Sprintf("--b\r\nContent-Type: image/gif; name=%d%s.gif\r\nContent-ID: <%d%s>\r\n\r\nx\r\n",
						i, strings.Repeat("n", 400), i, strings.Repeat("i", 990))
				}})
		}},
		deepNesting(size, 1000),
		{"preamble", size, func() io.Reader {
			return io.MultiReader(str(bigHeader+"Content-Type: multipart/mixed; boundary=b\r\n\r\n"), &repeat{line: strings.Repeat("p", 78) + "\r\n", n: n},
				str("--b\r\nContent-Type: text/plain\r\n\r\nthe text\r\n--b--\r\n"))
		}},
	}
}

// deepNesting is a message of about size bytes: multiparts nested depth
// deep, then a base64 body.
func deepNesting(size int64, depth int64) bigMessage {
	return bigMessage{fmt.Sprintf("%d nested multiparts, %d MiB", depth, size/mib), size, func() io.Reader {
		return io.MultiReader(str(bigHeader), &lines{n: depth, line: func(i int64) string {
			return fmt.Sprintf("Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
		}}, str("Content-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n\r\n"), &repeat{line: base64Line, n: size / int64(len(base64Line))})
	}}
}

// boundaryLines is a message of about size bytes that makes every
// multipart reader in it return a line at a time: multiparts nested as
// deep as the default limit, with boundaries "a", "aa", "aaa"..., then
// lines that start as each of those boundaries does.
func boundaryLines(size int64) bigMessage {
	line := "--" + strings.Repeat("a", 20) + "\r\n"
	return bigMessage{fmt.Sprintf("boundary-like lines in %d nested multiparts, %d MiB", message.DefaultMaxDepth, size/mib), size, func() io.Reader {
		return io.MultiReader(str(bigHeader), &lines{n: message.DefaultMaxDepth, line: func(i int64) string {
			b := strings.Repeat("a", int(i)+1)
			return fmt.Sprintf("Content-Type: multipart/mixed; boundary=%s\r\n\r\n--%s\r\n", b, b)
		}}, str("Content-Type: application/zip\r\n\r\n"), &repeat{line: line, n: size / int64(len(line))},
			&lines{n: message.DefaultMaxDepth, line: func(i int64) string {
				return "--" + strings.Repeat("a", message.DefaultMaxDepth-int(i)) + "--\r\n"
			}})
	}}
}

// sampler samples the live heap, after a collection, every step bytes
// read through it, and keeps the highest.
type sampler struct {
	r          io.Reader
	read, next int64
	step       int64
	peak       uint64
}

func newSampler(r io.Reader, step int64) *sampler {
	s := &sampler{r: r, step: step}
	s.sample()
	return s
}

func (s *sampler) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.read += int64(n)
	if s.read >= s.next {
		s.next = s.read + s.step
		s.sample()
	}
	return n, err
}

func (s *sampler) sample() {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.peak = max(s.peak, ms.HeapAlloc)
}

// liveHeap returns the live heap after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
