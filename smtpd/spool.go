package smtpd

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"sync"
)

// DefaultSpoolMemory is how many bytes of a message a Spool keeps in memory
// when its MemoryLimit is zero. Beyond it the message goes to a temporary
// file. At 256 KiB, fifty messages being received at once hold at most
// 12.5 MiB of spooled data in memory however large they are.
const DefaultSpoolMemory = 256 << 10

// spoolCopyBuffer is the size of the buffer used to copy into the file once
// a message has spilled to disk.
const spoolCopyBuffer = 32 << 10

// ErrSpoolClosed is returned by a Spool's methods after Close.
var ErrSpoolClosed = errors.New("smtpd: spool closed")

// Spool keeps one message for handlers that need to read it more than once:
// a DKIM check and then a store, or a fan-out to several stores. Small
// messages stay in memory; once a message grows past MemoryLimit, it moves to
// a temporary file, so the memory a Spool holds is bounded whatever the
// message size.
//
// The temporary file is removed from its directory as soon as it is
// created: only the open descriptor keeps it, so a crash leaves nothing
// behind, and Close gives the space back.
//
// Fill a Spool with ReadFrom (or Write), then read it as often as needed
// with Reader or ReadAt, from any number of goroutines; do not write to it
// after reading has begun. The zero value is an empty Spool with the
// defaults below. Do not copy a Spool once it has been written to: its
// memory goes back to a shared pool at Close.
//
// A middleware that spools the message shares it with the handlers after
// it by handing next Reader(), or MultiReaderAt of a new header field and
// a section of the Spool: next (and any handler it calls) then reads the
// message again with Reread, without a second copy and with no more
// memory than the Spool holds. The middleware closes the Spool only once
// next has returned.
type Spool struct {
	// MemoryLimit is the number of bytes kept in memory before the message
	// moves to a file. Zero means DefaultSpoolMemory; a negative value
	// sends every byte to the file.
	MemoryLimit int
	// Dir is the directory for the temporary file. "" means os.TempDir().
	Dir string

	mem    []byte
	file   *os.File
	size   int64
	closed bool
}

func (s *Spool) limit() int {
	switch {
	case s.MemoryLimit == 0:
		return DefaultSpoolMemory
	case s.MemoryLimit < 0:
		return 0
	}
	return s.MemoryLimit
}

// Size returns the number of bytes spooled so far.
func (s *Spool) Size() int64 { return s.size }

// OnDisk reports whether the message has moved to a temporary file.
func (s *Spool) OnDisk() bool { return s.file != nil }

// Write appends p to the spooled message.
func (s *Spool) Write(p []byte) (int, error) {
	if s.closed {
		return 0, ErrSpoolClosed
	}
	if s.file == nil && len(s.mem)+len(p) <= s.limit() {
		s.mem = append(s.grow(len(p)), p...)
		s.size += int64(len(p))
		return len(p), nil
	}
	if err := s.spill(); err != nil {
		return 0, err
	}
	n, err := s.file.Write(p)
	s.size += int64(n)
	if err != nil {
		return n, fmt.Errorf("smtpd: spool: writing to the temporary file: %w", err)
	}
	return n, nil
}

// grow returns s.mem with room for n more bytes, never with a capacity
// beyond the memory limit: append alone could double past it.
func (s *Spool) grow(n int) []byte {
	need := len(s.mem) + n
	if need <= cap(s.mem) {
		return s.mem
	}
	c := min(ceilPow2(max(2*cap(s.mem), need, minSpoolBuffer)), s.limit())
	b := getSpoolBuffer(c)[:len(s.mem)]
	copy(b, s.mem)
	putSpoolBuffer(s.mem)
	return b
}

// Spools' memory is pooled by size, powers of two from minSpoolBuffer to
// maxSpoolBuffer: growing a spool to 128 KiB for a 100 KiB message
// allocated and zeroed 252 KiB, and with the copies and the garbage
// collection that cost a tenth of the CPU of examples/inbox receiving
// 100 KiB messages (makeslice under Spool.ReadFrom, mallocgc, GC workers).
const (
	minSpoolShift  = 12 // 4 KiB
	maxSpoolShift  = 18 // 256 KiB, DefaultSpoolMemory
	minSpoolBuffer = 1 << minSpoolShift
	maxSpoolBuffer = 1 << maxSpoolShift
)

var spoolBuffers [maxSpoolShift - minSpoolShift + 1]sync.Pool

// spoolClass returns the index in spoolBuffers of buffers of capacity c,
// or -1 when c is not one of the pooled sizes.
func spoolClass(c int) int {
	if c < minSpoolBuffer || c > maxSpoolBuffer || c&(c-1) != 0 {
		return -1
	}
	return bits.Len(uint(c)) - 1 - minSpoolShift
}

// getSpoolBuffer returns an empty buffer of capacity c, from the pool when
// c is a pooled size.
func getSpoolBuffer(c int) []byte {
	if i := spoolClass(c); i >= 0 {
		if b, ok := spoolBuffers[i].Get().(*[]byte); ok {
			return (*b)[:0]
		}
	}
	return make([]byte, 0, c)
}

// putSpoolBuffer gives b back to the pool, if its size is pooled. Nothing
// may use b afterwards.
func putSpoolBuffer(b []byte) {
	if i := spoolClass(cap(b)); i >= 0 {
		b = b[:0]
		spoolBuffers[i].Put(&b)
	}
}

// ceilPow2 returns the least power of two not below n, for n > 0.
func ceilPow2(n int) int {
	return 1 << bits.Len(uint(n-1))
}

// spill moves what is in memory to a new temporary file, unlinked at once.
func (s *Spool) spill() error {
	if s.file != nil {
		return nil
	}
	f, err := os.CreateTemp(s.Dir, "ownmx-spool-*")
	if err != nil {
		return fmt.Errorf("smtpd: spool: creating a temporary file: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return fmt.Errorf("smtpd: spool: unlinking the temporary file %s: %w", f.Name(), err)
	}
	if _, err := f.Write(s.mem); err != nil {
		f.Close()
		return fmt.Errorf("smtpd: spool: writing to the temporary file: %w", err)
	}
	s.file = f
	putSpoolBuffer(s.mem)
	s.mem = nil
	return nil
}

// ReadFrom spools everything r yields until io.EOF and returns the number of
// bytes read. An error from r is returned as it is (the smtpd DATA reader's
// *Error, say), so a handler can pass it up unchanged; the Spool then holds
// what was read before the error.
func (s *Spool) ReadFrom(r io.Reader) (int64, error) {
	if s.closed {
		return 0, ErrSpoolClosed
	}
	var total int64
	// Fill memory directly, without a copy buffer, until the limit.
	for s.file == nil {
		if len(s.mem) == cap(s.mem) {
			if len(s.mem) >= s.limit() {
				break
			}
			s.mem = s.grow(1)
		}
		n, err := r.Read(s.mem[len(s.mem):cap(s.mem)])
		s.mem = s.mem[:len(s.mem)+n]
		s.size += int64(n)
		total += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
	// Memory is full: move to the file, probing first so a message that
	// ends exactly at the limit stays in memory.
	var probe [1]byte
	for {
		n, err := r.Read(probe[:])
		if n > 0 {
			if _, werr := s.Write(probe[:n]); werr != nil {
				return total, werr
			}
			total += int64(n)
			break
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
	buf := make([]byte, spoolCopyBuffer)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			w, werr := s.Write(buf[:n])
			total += int64(w)
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// ReadAt reads len(p) bytes of the spooled message starting at off, as
// io.ReaderAt says. It is safe to call from several goroutines at once.
func (s *Spool) ReadAt(p []byte, off int64) (int, error) {
	if s.closed {
		return 0, ErrSpoolClosed
	}
	if off < 0 {
		return 0, fmt.Errorf("smtpd: spool: negative offset %d", off)
	}
	if s.file != nil {
		if off >= s.size {
			return 0, io.EOF
		}
		if rest := s.size - off; int64(len(p)) > rest {
			n, err := s.file.ReadAt(p[:rest], off)
			if err == nil {
				err = io.EOF
			}
			return n, err
		}
		return s.file.ReadAt(p, off)
	}
	if off >= int64(len(s.mem)) {
		return 0, io.EOF
	}
	n := copy(p, s.mem[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Reader returns a new reader of the whole spooled message, from its first
// byte. Each call returns an independent reader.
func (s *Spool) Reader() *io.SectionReader {
	return io.NewSectionReader(s, 0, s.size)
}

// Close releases the memory and the temporary file. Readers obtained before
// fail afterwards with ErrSpoolClosed. Close may be called more than once.
func (s *Spool) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	putSpoolBuffer(s.mem)
	s.mem = nil
	if s.file != nil {
		err := s.file.Close()
		s.file = nil
		if err != nil {
			return fmt.Errorf("smtpd: spool: closing the temporary file: %w", err)
		}
	}
	return nil
}
