package send_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"io"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/ownmx/ownmx/smtpd"
)

// generatedAt is a message of a given size made up as it is read, without
// allocating, so that a test of a large message holds none of it in
// memory: a header, then numbered lines of 64 bytes, every seventh
// starting with a dot.
type generatedAt struct{ size int64 }

const genHeader = "From: alice@origin.test\r\nTo: bob@example.test\r\nSubject: large\r\n\r\n"

// genLine writes line i of the body into buf.
func genLine(i int64, buf *[64]byte) []byte {
	b := buf[:0]
	if i%7 == 0 {
		b = append(b, '.')
	}
	b = append(b, "line "...)
	b = strconv.AppendInt(b, i, 10)
	for len(b) < 62 {
		b = append(b, ' ')
	}
	return append(b, '\r', '\n')
}

func (g generatedAt) ReadAt(p []byte, off int64) (int, error) {
	var buf [64]byte
	n := 0
	for n < len(p) && off < g.size {
		var chunk []byte
		var at int64
		if off < int64(len(genHeader)) {
			chunk, at = []byte(genHeader), off
		} else {
			body := off - int64(len(genHeader))
			chunk, at = genLine(body/64, &buf), body%64
		}
		c := copy(p[n:], chunk[at:min(int64(len(chunk)), at+g.size-off)])
		n += c
		off += int64(c)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// generated returns a made-up message of about size bytes, in whole
// lines.
func generated(size int64) *io.SectionReader {
	size = int64(len(genHeader)) + (size-int64(len(genHeader)))/64*64
	return io.NewSectionReader(generatedAt{size}, 0, size)
}

// digest is what a hashing receiver keeps of a message.
type digest struct {
	sum  [32]byte
	size int64
}

// hashReceiver returns a receiver that keeps only the SHA-256 and size of
// the messages it accepts, without the Received header it adds, so that
// a large message costs it no memory.
func hashReceiver(host string, max int64) (*receiver, func() []digest) {
	r := newReceiver(host)
	r.MaxMessageBytes = max
	var mu sync.Mutex
	var got []digest
	r.Data = smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, body io.Reader) error {
		br := bufio.NewReader(body)
		// The Received header: its first line and those that continue it.
		for first := true; ; first = false {
			if !first {
				if b, err := br.Peek(1); err != nil || (b[0] != ' ' && b[0] != '\t') {
					break
				}
			}
			if _, err := br.ReadSlice('\n'); err != nil {
				return err
			}
		}
		h := sha256.New()
		n, err := io.Copy(h, br)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		got = append(got, digest{size: n})
		copy(got[len(got)-1].sum[:], h.Sum(nil))
		return nil
	})
	return r, func() []digest {
		mu.Lock()
		defer mu.Unlock()
		return append([]digest(nil), got...)
	}
}

func sumOf(t testing.TB, msg *io.SectionReader) digest {
	h := sha256.New()
	n, err := io.Copy(h, io.NewSectionReader(msg, 0, msg.Size()))
	if err != nil {
		t.Fatal(err)
	}
	var d digest
	d.size = n
	copy(d.sum[:], h.Sum(nil))
	return d
}

// A 30 MiB message arrives whole and unchanged, and sending it allocates
// a small part of its size, in the sender and the receiver together: it
// is streamed, never held.
func TestSendLarge(t *testing.T) {
	const size = 30 << 20
	w := newWorld(t, twoMX...)
	mx1, got := hashReceiver("mx1.example.test", 64<<20)
	w.serve("127.0.0.2", mx1.Server)
	msg := generated(size)
	want := sumOf(t, msg)

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := w.sender().Send(t.Context(), "alice@origin.test", "bob@example.test", msg); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)

	if d := got(); len(d) != 1 || d[0] != want {
		t.Fatalf("the receiver got %d messages, %+v; want one of %d bytes, SHA-256 %x", len(d), d, want.size, want.sum)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/8 {
		t.Errorf("sending %d bytes allocated %d bytes, more than an eighth of the message", size, alloc)
	} else {
		t.Logf("sending %d bytes allocated %d bytes", size, alloc)
	}
}

// BenchmarkSend sends messages of 1 MiB and 30 MiB to an smtpd receiver
// over loopback. Streamed, the bytes allocated per message (B/op) hardly
// change with its size; a copy of the message would make them grow 30
// times.
func BenchmarkSend(b *testing.B) {
	for _, size := range []int64{1 << 20, 30 << 20} {
		b.Run(strconv.FormatInt(size>>20, 10)+"MiB", func(b *testing.B) {
			w := newWorld(b, twoMX...)
			mx1, _ := hashReceiver("mx1.example.test", 64<<20)
			w.serve("127.0.0.2", mx1.Server)
			s := w.sender()
			msg := generated(size)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Send(b.Context(), "alice@origin.test", "bob@example.test", msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
