package smtpd

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"testing/iotest"
)

// message returns n bytes of CRLF-terminated lines that differ from line
// to line, so a misplaced chunk shows.
func message(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		b.WriteString("line ")
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString(" of the spooled message, number ")
		b.WriteByte(byte('0' + i%10))
		b.WriteString("\r\n")
	}
	return b.Bytes()[:n]
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestSpoolSizes(t *testing.T) {
	const limit = 1024
	for _, tc := range []struct {
		name   string
		size   int
		onDisk bool
	}{
		{"empty", 0, false},
		{"small", 100, false},
		{"exactly the limit", limit, false},
		{"one byte over", limit + 1, true},
		{"large", 300*1024 + 7, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			want := message(tc.size)
			s := &Spool{MemoryLimit: limit, Dir: dir}
			// HalfReader makes ReadFrom meet short reads.
			n, err := s.ReadFrom(iotest.HalfReader(bytes.NewReader(want)))
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(len(want)) || s.Size() != int64(len(want)) {
				t.Fatalf("ReadFrom = %d, Size = %d; want %d", n, s.Size(), len(want))
			}
			if s.OnDisk() != tc.onDisk {
				t.Fatalf("OnDisk = %v, want %v", s.OnDisk(), tc.onDisk)
			}
			if cap(s.mem) > limit {
				t.Errorf("memory capacity %d beyond the limit %d", cap(s.mem), limit)
			}
			if names := dirEntries(t, dir); len(names) != 0 {
				t.Errorf("temporary directory holds %v while the spool is open; want it unlinked at once", names)
			}
			// Readable more than once, and by several readers at a time.
			for range 2 {
				if err := iotest.TestReader(s.Reader(), want); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if names := dirEntries(t, dir); len(names) != 0 {
				t.Errorf("temporary directory holds %v after Close", names)
			}
			if _, err := s.ReadAt(make([]byte, 1), 0); !errors.Is(err, ErrSpoolClosed) {
				t.Errorf("ReadAt after Close: %v, want ErrSpoolClosed", err)
			}
			if err := s.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

func TestSpoolWrite(t *testing.T) {
	dir := t.TempDir()
	s := &Spool{MemoryLimit: 10, Dir: dir}
	defer s.Close()
	want := message(64)
	for chunk := range slices.Chunk(want, 7) {
		if n, err := s.Write(chunk); err != nil || n != len(chunk) {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if !s.OnDisk() {
		t.Error("64 bytes with a limit of 10 stayed in memory")
	}
	got, err := io.ReadAll(s.Reader())
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read back %q, %v; want %q", got, err, want)
	}
}

func TestSpoolDefaults(t *testing.T) {
	var s Spool
	defer s.Close()
	if _, err := s.ReadFrom(bytes.NewReader(message(DefaultSpoolMemory))); err != nil {
		t.Fatal(err)
	}
	if s.OnDisk() {
		t.Errorf("a message of DefaultSpoolMemory bytes went to disk")
	}
	neg := Spool{MemoryLimit: -1, Dir: t.TempDir()}
	defer neg.Close()
	if _, err := neg.ReadFrom(bytes.NewReader(message(10))); err != nil {
		t.Fatal(err)
	}
	if !neg.OnDisk() {
		t.Errorf("MemoryLimit -1 kept the message in memory")
	}
}

// TestSpoolReaderError checks that the error of the message's reader comes
// back as it is, so the DATA reader's *Error reaches the client.
func TestSpoolReaderError(t *testing.T) {
	for _, size := range []int{10, 5000} {
		s := &Spool{MemoryLimit: 1024, Dir: t.TempDir()}
		r := io.MultiReader(bytes.NewReader(message(size)), iotest.ErrReader(ErrMessageTooLarge))
		_, err := s.ReadFrom(r)
		if err != ErrMessageTooLarge {
			t.Errorf("size %d: ReadFrom error %v, want ErrMessageTooLarge unchanged", size, err)
		}
		s.Close()
	}
}

func TestSpoolConcurrentReaders(t *testing.T) {
	want := message(100 * 1024)
	for _, limit := range []int{1 << 20, 4096} {
		s := &Spool{MemoryLimit: limit, Dir: t.TempDir()}
		if _, err := s.ReadFrom(bytes.NewReader(want)); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() {
				got, err := io.ReadAll(s.Reader())
				if err == nil && !bytes.Equal(got, want) {
					err = errors.New("concurrent reader read different bytes")
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("limit %d: %v", limit, err)
			}
		}
		s.Close()
	}
}

func TestSpoolBadDir(t *testing.T) {
	s := &Spool{MemoryLimit: 4, Dir: "/nonexistent/ownmx-spool-test"}
	defer s.Close()
	_, err := s.ReadFrom(bytes.NewReader(message(100)))
	if err == nil {
		t.Fatal("spilling into a missing directory succeeded")
	}
}

// BenchmarkSpool measures spooling a 10 MiB message, which goes to disk.
func BenchmarkSpool(b *testing.B) {
	msg := message(10 << 20)
	dir := b.TempDir()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		s := &Spool{Dir: dir}
		if _, err := s.ReadFrom(bytes.NewReader(msg)); err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, s.Reader()); err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

// lineReader yields n bytes of numbered CRLF lines without holding them.
type lineReader struct {
	n, i int
	line []byte
}

func (r *lineReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	if len(r.line) == 0 {
		r.i++
		r.line = []byte("line " + strconv.Itoa(r.i) + " of a large message\r\n")
	}
	n := copy(p[:min(len(p), r.n)], r.line)
	r.line, r.n = r.line[n:], r.n-n
	return n, nil
}

// TestSpoolLargeMessage spools a 10 MiB message with the defaults: it
// goes to disk, the memory buffer is let go, every byte reads back, and
// nothing is left in the directory after Close.
func TestSpoolLargeMessage(t *testing.T) {
	const size = 10 << 20
	dir := t.TempDir()
	s := &Spool{Dir: dir}
	if _, err := s.ReadFrom(&lineReader{n: size}); err != nil {
		t.Fatal(err)
	}
	if !s.OnDisk() || s.Size() != size || s.mem != nil {
		t.Fatalf("OnDisk %v, Size %d, memory held %d bytes; want on disk, %d, none", s.OnDisk(), s.Size(), cap(s.mem), size)
	}
	want := sha256.New()
	io.Copy(want, &lineReader{n: size})
	for range 2 {
		got := sha256.New()
		if _, err := io.Copy(got, s.Reader()); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
			t.Fatal("the large message reads back different")
		}
	}
	if names := dirEntries(t, dir); len(names) != 0 {
		t.Errorf("temporary directory holds %v while the spool is open", names)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if names := dirEntries(t, dir); len(names) != 0 {
		t.Errorf("temporary directory holds %v after Close", names)
	}
}
