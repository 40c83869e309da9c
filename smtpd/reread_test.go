package smtpd

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// checkReaderAt compares every ReadAt of got, at each offset from -1 to
// past the end and each length up to the whole, with want read the same
// way: the same bytes, io.EOF exactly where want says it, and nothing
// else.
func checkReaderAt(t *testing.T, got io.ReaderAt, want []byte) {
	t.Helper()
	ref := bytes.NewReader(want)
	for off := int64(-1); off <= int64(len(want))+2; off++ {
		for n := 0; n <= len(want)+2; n++ {
			p, q := make([]byte, n), make([]byte, n)
			gn, gerr := got.ReadAt(p, off)
			wn, werr := ref.ReadAt(q, off)
			if off < 0 {
				if gerr == nil || gn != 0 {
					t.Fatalf("ReadAt(%d bytes, %d) = %d, %v; want an error", n, off, gn, gerr)
				}
				continue
			}
			if gn != wn || !bytes.Equal(p[:gn], q[:wn]) || gerr != werr {
				t.Fatalf("ReadAt(%d bytes, %d) = %d %q, %v; want %d %q, %v", n, off, gn, p[:gn], gerr, wn, q[:wn], werr)
			}
		}
	}
}

// TestMultiReaderAt reads concatenations of every shape, empty parts
// included, at every offset and length, against the bytes they join.
func TestMultiReaderAt(t *testing.T) {
	for _, parts := range [][]string{
		{},
		{""},
		{"", ""},
		{"a"},
		{"Subject: x\r\n"},
		{"A: 1\r\n", "B: 2\r\n\r\nbody\r\n"},
		{"", "head\r\n", "", "", "body\r\n", ""},
		{"a", "b", "c", "d", "e"},
		{"one part\r\n", "", "x"},
	} {
		t.Run(fmt.Sprintf("%q", parts), func(t *testing.T) {
			var ras []SizeReaderAt
			for _, p := range parts {
				ras = append(ras, strings.NewReader(p))
			}
			want := []byte(strings.Join(parts, ""))
			m := MultiReaderAt(ras...)
			if m.Size() != int64(len(want)) {
				t.Fatalf("Size = %d, want %d", m.Size(), len(want))
			}
			checkReaderAt(t, m, want)
			inner, _, _ := m.Outer() // the concatenation itself, without the section's bounds
			checkReaderAt(t, inner, want)
			if err := iotest.TestReader(MultiReaderAt(ras...), want); err != nil {
				t.Error(err)
			}
		})
	}
}

// FuzzMultiReaderAt cuts data into parts and reads their concatenation
// at off, n bytes, against bytes.Reader over data.
func FuzzMultiReaderAt(f *testing.F) {
	f.Add([]byte("Authentication-Results: x; none\r\nFrom: a@b\r\n\r\nbody\r\n"), uint64(0x0f0f), int64(3), uint16(40))
	f.Add([]byte("ab"), uint64(1), int64(1), uint16(1))
	f.Add([]byte(""), uint64(0), int64(0), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, cuts uint64, off int64, n uint16) {
		// Bit i of cuts set: a part ends after byte i; bit 63: an empty
		// part at each cut too.
		var parts []SizeReaderAt
		start := 0
		for i := range data {
			if i < 63 && cuts&(1<<i) != 0 {
				parts = append(parts, bytes.NewReader(data[start:i+1]))
				if cuts&(1<<63) != 0 {
					parts = append(parts, bytes.NewReader(nil))
				}
				start = i + 1
			}
		}
		parts = append(parts, bytes.NewReader(data[start:]))
		m, _, _ := MultiReaderAt(parts...).Outer()
		p, q := make([]byte, n), make([]byte, n)
		gn, gerr := m.ReadAt(p, off)
		if off < 0 {
			if gerr == nil || gn != 0 {
				t.Fatalf("ReadAt(%d) = %d, %v; want an error", off, gn, gerr)
			}
			return
		}
		wn, werr := bytes.NewReader(data).ReadAt(q, off)
		if gn != wn || !bytes.Equal(p[:gn], q[:wn]) || gerr != werr {
			t.Fatalf("ReadAt(%d bytes, %d) = %d, %v; want %d, %v", n, off, gn, gerr, wn, werr)
		}
	})
}

// liar is a part whose Size says more than it holds, or whose reads fail.
type liar struct {
	*strings.Reader
	size int64
	err  error
}

func (l liar) Size() int64 { return l.size }

func (l liar) ReadAt(p []byte, off int64) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	return l.Reader.ReadAt(p, off)
}

// TestMultiReaderAtPartErrors: a part that fails or ends early is an
// error, never a short message taken for the whole.
func TestMultiReaderAtPartErrors(t *testing.T) {
	short := MultiReaderAt(strings.NewReader("head\r\n"), liar{Reader: strings.NewReader("body"), size: 10})
	b, err := io.ReadAll(short)
	if !errors.Is(err, errShortPart) || string(b) != "head\r\nbody" {
		t.Errorf("part shorter than its Size: read %q, %v; want the bytes there are and errShortPart", b, err)
	}
	failing := errors.New("disk on fire")
	_, err = io.ReadAll(MultiReaderAt(strings.NewReader("head\r\n"), liar{Reader: strings.NewReader("body"), size: 4, err: failing}))
	if !errors.Is(err, failing) {
		t.Errorf("failing part: %v, want its error", err)
	}
}

// TestReread: the readers a middleware hands on can be read again from
// their first byte, however much of them was read; others cannot.
func TestReread(t *testing.T) {
	const msg = "Subject: x\r\n\r\nbody\r\n"
	sp := &Spool{}
	defer sp.Close()
	if _, err := sp.ReadFrom(strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		r    io.Reader
	}{
		{"Spool.Reader", sp.Reader()},
		{"MultiReaderAt", MultiReaderAt(strings.NewReader("Subject: x\r\n"), io.NewSectionReader(sp, int64(len("Subject: x\r\n")), sp.Size()-int64(len("Subject: x\r\n"))))},
		{"strings.Reader", strings.NewReader(msg)},
		{"bytes.Reader", bytes.NewReader([]byte(msg))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := make([]byte, 5)
			if _, err := io.ReadFull(tc.r, first); err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				again, ok := Reread(tc.r)
				if !ok {
					t.Fatalf("Reread = false")
				}
				if b, err := io.ReadAll(again); err != nil || string(b) != msg {
					t.Errorf("read %d after 5 bytes read: %q, %v; want the whole message", i+2, b, err)
				}
			}
			if rest, err := io.ReadAll(tc.r); err != nil || string(rest) != msg[5:] {
				t.Errorf("r after Reread: %q, %v; want it where it was", rest, err)
			}
		})
	}
	for _, r := range []io.Reader{
		iotest.OneByteReader(strings.NewReader(msg)),
		io.MultiReader(strings.NewReader(msg)),
		bufio.NewReader(strings.NewReader(msg)),
		io.LimitReader(strings.NewReader(msg), 5),
	} {
		if m, ok := Reread(r); ok || m != nil {
			t.Errorf("Reread(%T) = %v, %v; want nil, false", r, m, ok)
		}
	}
}

// TestRereadSpilled: a header prepended to a message that spilled to the
// spool's file reads back byte for byte, twice, and fails with
// ErrSpoolClosed once the spool is closed.
func TestRereadSpilled(t *testing.T) {
	dir := t.TempDir()
	body := message(3*DefaultSpoolMemory + 17)
	sp := &Spool{Dir: dir}
	if _, err := sp.ReadFrom(bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	if !sp.OnDisk() {
		t.Fatal("message did not spill to a file")
	}
	head := []byte("Authentication-Results: mx.example; none\r\n")
	r := MultiReaderAt(bytes.NewReader(head), sp.Reader())
	want := append(append([]byte(nil), head...), body...)
	for i := range 2 {
		again, _ := Reread(r)
		if b, err := io.ReadAll(again); err != nil || !bytes.Equal(b, want) {
			t.Fatalf("read %d: %d bytes, %v; want %d bytes, the same", i+1, len(b), err, len(want))
		}
	}
	if err := iotest.TestReader(MultiReaderAt(bytes.NewReader(head), sp.Reader()), want); err != nil {
		t.Error(err)
	}
	sp.Close()
	again, _ := Reread(r)
	if _, err := io.ReadAll(again); !errors.Is(err, ErrSpoolClosed) {
		t.Errorf("read after Close: %v, want ErrSpoolClosed", err)
	}
	if names := dirEntries(t, dir); len(names) != 0 {
		t.Errorf("spool directory holds %v", names)
	}
}
