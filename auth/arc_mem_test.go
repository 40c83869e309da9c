package auth

import (
	"crypto/sha256"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"
)

// bodyLine is the line a generated body repeats: text, double spaces and
// a tab, for the relaxed canonicalization to work on.
const bodyLine = "Lorem ipsum dolor sit amet,  consectetur\tadipiscing elit, sed do eiusmod.\r\n"

// repeated reads its pattern again and again, without end.
type repeated struct {
	pattern string
	off     int
}

func (r *repeated) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.pattern[r.off:])
		n += c
		r.off = (r.off + c) % len(r.pattern)
	}
	return n, nil
}

// bigMessage returns a reader of arcTestMessage's header, and of a body of
// size bytes made as it is read: the test holds no copy of it.
func bigMessage(head string, size int64) io.Reader {
	return io.MultiReader(strings.NewReader(head), io.LimitReader(&repeated{pattern: bodyLine}, size))
}

// allocated returns the bytes f allocates on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestARCMemory covers item 6 of issue 14: sealing and validating a
// message of 20 MiB allocates under 1 MiB in all, a twentieth of its
// body: the body is hashed as it is read, never held.
func TestARCMemory(t *testing.T) {
	const size = 20 << 20
	c, _ := newARCChecker(t)
	// Hashing 20 MiB under the race detector on a loaded machine can
	// outlast the tests' 5 s: this test is about memory, not time.
	c.Timeout = 2 * time.Minute
	msg := arcTestMessage(t)
	head := msg[:strings.Index(msg, "\r\n\r\n")+4]
	s := testSealer("example.org", "sel")
	var set []byte
	var err error
	sealAlloc := allocated(func() { set, err = s.Seal(bigMessage(head, size), nil, ARCResult{Result: None}) })
	if err != nil {
		t.Fatal(err)
	}
	var got ARCResult
	checkAlloc := allocated(func() { got = c.ARC(t.Context(), bigMessage(string(set)+head, size)) })
	if got != (ARCResult{Result: Pass, Instance: 1}) {
		t.Fatalf("ARC of the sealed 20 MiB message = %+v, want pass", got)
	}
	t.Logf("20 MiB body: Seal allocated %d bytes, ARC %d", sealAlloc, checkAlloc)
	if sealAlloc > 1<<20 || checkAlloc > 1<<20 {
		t.Fatalf("Seal allocated %d bytes and ARC %d for a 20 MiB body: want under 1 MiB each", sealAlloc, checkAlloc)
	}
}

// BenchmarkARCSeal measures Seal of messages whose bodies grow from 64
// KiB to 20 MiB: B/op stays the same (the body is never held), against
// the baseline of reading the body into memory (ReadAll) and of hashing
// it with SHA-256 alone, which shows what canonicalization costs.
func BenchmarkARCSeal(b *testing.B) {
	msg := arcTestMessage(b)
	head := msg[:strings.Index(msg, "\r\n\r\n")+4]
	s := testSealer("example.org", "sel")
	for _, size := range []struct {
		name string
		n    int64
	}{{"64KiB", 64 << 10}, {"1MiB", 1 << 20}, {"20MiB", 20 << 20}} {
		b.Run("Seal/"+size.name, func(b *testing.B) {
			b.SetBytes(size.n)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Seal(bigMessage(head, size.n), nil, ARCResult{Result: None}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("ReadAll/"+size.name, func(b *testing.B) {
			b.SetBytes(size.n)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := io.ReadAll(bigMessage(head, size.n)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("SHA256/"+size.name, func(b *testing.B) {
			b.SetBytes(size.n)
			b.ReportAllocs()
			for b.Loop() {
				h := sha256.New()
				if _, err := io.Copy(h, bigMessage(head, size.n)); err != nil {
					b.Fatal(err)
				}
				h.Sum(nil)
			}
		})
	}
}

// BenchmarkARCValidate measures Checker.ARC of a sealed message of 1 MiB
// with a warm DNS cache.
func BenchmarkARCValidate(b *testing.B) {
	c, _ := benchChecker(b)
	msg := arcTestMessage(b)
	head := msg[:strings.Index(msg, "\r\n\r\n")+4]
	set, err := testSealer("example.org", "sel").Seal(bigMessage(head, 1<<20), nil, ARCResult{Result: None})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	for b.Loop() {
		if got := c.ARC(b.Context(), bigMessage(string(set)+head, 1<<20)); got.Result != Pass {
			b.Fatalf("ARC = %+v", got)
		}
	}
}
