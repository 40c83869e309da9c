// Package storetest checks that a store.Store keeps its promise: the whole
// message, byte for byte, durably, or an error and nothing left behind.
//
// Run is a suite in the manner of testing/fstest.TestFS and
// testing/slogtest.Run: a Store's own tests call it with a constructor, and
// it delivers messages of every awkward kind and reads back what the store
// holds through a Contents.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/store"
)

// Message is one message as a store holds it.
type Message struct {
	// Path says where the message is, for error messages (a file name for
	// Maildirs).
	Path string
	// Mailbox names the mailbox that holds it, in the store's own terms
	// (for MaildirContents, the Maildir's path relative to the root).
	Mailbox string
	// Quarantine is true for a message in a junk folder.
	Quarantine bool
	// Partial is true for what an unfinished delivery left behind (a file in
	// a Maildir's tmp/). The suite expects none.
	Partial bool
	// Open opens the message's bytes for reading.
	Open func() (io.ReadCloser, error)
}

// Contents reads back what a store holds.
type Contents interface {
	// Messages returns every message the store holds, delivered or
	// partial, in any order.
	Messages(ctx context.Context) ([]Message, error)
}

// ContentsFunc adapts a function to Contents.
type ContentsFunc func(ctx context.Context) ([]Message, error)

// Messages calls f(ctx).
func (f ContentsFunc) Messages(ctx context.Context) ([]Message, error) { return f(ctx) }

// MaildirContents returns the Contents of every Maildir found under root:
// each file in a directory named new or cur is a message and each file in
// one named tmp is Partial; a message is in quarantine when its path holds a
// ".Junk" folder.
func MaildirContents(root string) Contents {
	return ContentsFunc(func(ctx context.Context) ([]Message, error) {
		var msgs []Message
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			dir := filepath.Dir(path)
			kind := filepath.Base(dir)
			if kind != "new" && kind != "cur" && kind != "tmp" {
				return nil
			}
			mailbox, err := filepath.Rel(root, filepath.Dir(dir))
			if err != nil {
				return err
			}
			msgs = append(msgs, Message{
				Path:       path,
				Mailbox:    filepath.ToSlash(mailbox),
				Quarantine: slices.Contains(strings.Split(filepath.ToSlash(mailbox), "/"), store.Junk),
				Partial:    kind == "tmp",
				Open:       func() (io.ReadCloser, error) { return os.Open(path) },
			})
			return nil
		})
		if errors.Is(err, fs.ErrNotExist) && len(msgs) == 0 {
			return nil, nil // nothing delivered yet: root not made
		}
		return msgs, err
	})
}

// Recipients are the addresses the suite delivers to. The store under test
// must accept them.
const (
	Rcpt      = "rcpt@example.com"
	OtherRcpt = "postmaster@example.com"
)

// Run runs the suite against the stores that newStore makes: a fresh one,
// with its Contents, for each subtest. Each delivery is addressed to Rcpt
// (some also to OtherRcpt). The subtests do not run in parallel with each
// other; the one that delivers 20 MiB checks that the store did not hold the
// message in memory by measuring allocations, which is only meaningful when
// nothing else in the test binary runs in parallel with it.
func Run(t *testing.T, newStore func(t *testing.T) (store.Store, Contents)) {
	t.Run("Bytes", func(t *testing.T) { testBytes(t, newStore) })
	t.Run("NullSender", func(t *testing.T) {
		s, c := newStore(t)
		env := &smtpd.Envelope{From: "", Rcpt: []string{Rcpt}}
		body := []byte("Subject: bounce\r\n\r\nyour message could not be delivered\r\n")
		if err := s.Deliver(t.Context(), env, bytes.NewReader(body)); err != nil {
			t.Fatalf("Deliver with null sender: %v", err)
		}
		checkHolds(t, c, map[string][]byte{"bounce": body}, false)
	})
	t.Run("Quarantine", func(t *testing.T) {
		s, c := newStore(t)
		env := &smtpd.Envelope{From: "spoofer@example.net", Rcpt: []string{Rcpt}, Quarantine: true}
		body := []byte("Subject: suspicious\r\n\r\nbody\r\n")
		if err := s.Deliver(t.Context(), env, bytes.NewReader(body)); err != nil {
			t.Fatalf("Deliver quarantined: %v", err)
		}
		checkHolds(t, c, map[string][]byte{"quarantined": body}, true)
	})
	t.Run("SeveralRecipients", func(t *testing.T) {
		s, c := newStore(t)
		env := &smtpd.Envelope{From: "a@example.org", Rcpt: []string{Rcpt, OtherRcpt}}
		body := []byte("Subject: to two\r\n\r\nbody\r\n")
		if err := s.Deliver(t.Context(), env, oneShot(bytes.NewReader(body))); err != nil {
			t.Fatalf("Deliver to two recipients: %v", err)
		}
		checkHolds(t, c, map[string][]byte{"to two": body}, false)
	})
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, newStore) })
	t.Run("FailingReader", func(t *testing.T) { testFailingReader(t, newStore) })
	t.Run("Cancelled", func(t *testing.T) { testCancelled(t, newStore) })
	t.Run("Large", func(t *testing.T) { testLarge(t, newStore) })
}

func envelope() *smtpd.Envelope {
	return &smtpd.Envelope{From: "sender@example.org", Rcpt: []string{Rcpt}}
}

func testBytes(t *testing.T, newStore func(t *testing.T) (store.Store, Contents)) {
	all := make([]byte, 0, 256*4)
	for i := range 256 * 4 {
		all = append(all, byte(i))
	}
	cases := []struct {
		name string
		body []byte
	}{
		{"crlf", []byte("From: a@example.org\r\nTo: rcpt@example.com\r\nSubject: hi\r\n\r\nline one\r\nline two\r\n")},
		{"no final newline", []byte("Subject: cut\r\n\r\nno newline at the end")},
		{"binary", all},
		{"nul and bare newlines", []byte("a\x00b\nc\rd\r\n\r\r\n\n.\r\n..\r\n")},
		{"lone dot lines", []byte("Subject: dots\r\n\r\n.\r\n.\r\n")},
		{"empty", []byte{}},
		{"utf-8", []byte("Subject: =?UTF-8?Q?h=C3=A9?=\r\n\r\nh\xc3\xa9 \xe2\x9c\x93\r\n")},
		{"one byte", []byte("x")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, c := newStore(t)
			if err := s.Deliver(t.Context(), envelope(), oneShot(bytes.NewReader(tc.body))); err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			checkHolds(t, c, map[string][]byte{tc.name: tc.body}, false)
		})
	}
}

// checkHolds checks that the store holds exactly the given messages (each
// at least once, each the same number of times, in quarantine or not as
// said) and nothing partial.
func checkHolds(t *testing.T, c Contents, want map[string][]byte, quarantine bool) {
	t.Helper()
	msgs, err := c.Messages(t.Context())
	if err != nil {
		t.Fatalf("reading back the store: %v", err)
	}
	byHash := make(map[[32]byte]string, len(want))
	for name, body := range want {
		byHash[sha256.Sum256(body)] = name
	}
	count := make(map[string]int, len(want))
	for _, m := range msgs {
		if m.Partial {
			t.Errorf("partial delivery left behind: %s", m.Path)
			continue
		}
		sum, n, err := hashOf(m)
		if err != nil {
			t.Errorf("reading %s: %v", m.Path, err)
			continue
		}
		name, ok := byHash[sum]
		if !ok {
			t.Errorf("%s holds %d bytes that match no message delivered", m.Path, n)
			continue
		}
		if m.Quarantine != quarantine {
			t.Errorf("%s (message %q): quarantine = %v, want %v", m.Path, name, m.Quarantine, quarantine)
		}
		count[name]++
	}
	copies := -1
	for name := range want {
		switch n := count[name]; {
		case n == 0:
			t.Errorf("message %q is missing from the store", name)
		case copies == -1:
			copies = n
		case n != copies:
			t.Errorf("message %q is held %d times, others %d times", name, n, copies)
		}
	}
}

// checkEmpty checks that the store holds nothing at all.
func checkEmpty(t *testing.T, c Contents) {
	t.Helper()
	msgs, err := c.Messages(t.Context())
	if err != nil {
		t.Fatalf("reading back the store: %v", err)
	}
	for _, m := range msgs {
		t.Errorf("left behind after a failed delivery: %s (partial: %v)", m.Path, m.Partial)
	}
}

func hashOf(m Message) ([32]byte, int64, error) {
	rc, err := m.Open()
	if err != nil {
		return [32]byte{}, 0, err
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	return [32]byte(h.Sum(nil)), n, err
}

func testConcurrent(t *testing.T, newStore func(t *testing.T) (store.Store, Contents)) {
	s, c := newStore(t)
	const workers, each = 10, 8
	want := make(map[string][]byte, workers*each)
	for w := range workers {
		for i := range each {
			name := fmt.Sprintf("w%d-m%d", w, i)
			want[name] = fmt.Appendf(nil, "Subject: %s\r\n\r\n%s\r\n", name, strings.Repeat(name, 1+i*100))
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				name := fmt.Sprintf("w%d-m%d", w, i)
				if err := s.Deliver(t.Context(), envelope(), oneShot(bytes.NewReader(want[name]))); err != nil {
					errs <- fmt.Errorf("delivering %s: %w", name, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	checkHolds(t, c, want, false)
}

// errBroken is what failingReader returns.
var errBroken = errors.New("storetest: connection lost")

// failingReader yields n bytes, then errBroken.
type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errBroken
	}
	k := min(len(p), r.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	r.n -= k
	return k, nil
}

func testFailingReader(t *testing.T, newStore func(t *testing.T) (store.Store, Contents)) {
	for _, n := range []int{0, 10, 300 << 10} {
		t.Run(fmt.Sprintf("after %d bytes", n), func(t *testing.T) {
			s, c := newStore(t)
			err := s.Deliver(t.Context(), envelope(), &failingReader{n: n})
			if !errors.Is(err, errBroken) {
				t.Fatalf("Deliver from a reader that fails: err = %v, want one wrapping %v", err, errBroken)
			}
			checkEmpty(t, c)
		})
	}
	t.Run("smtpd error", func(t *testing.T) {
		// A reader that refuses the message mid-way (too large) must have its
		// reply reach the server intact.
		s, c := newStore(t)
		r := io.MultiReader(strings.NewReader("Subject: big\r\n\r\n"), errReader{smtpd.ErrMessageTooLarge})
		err := s.Deliver(t.Context(), envelope(), r)
		var reply *smtpd.Error
		if !errors.As(err, &reply) || reply != smtpd.ErrMessageTooLarge {
			t.Fatalf("Deliver: err = %v, want one wrapping smtpd.ErrMessageTooLarge", err)
		}
		checkEmpty(t, c)
	})
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// cancellingReader yields bytes; after cancelAt bytes it cancels the
// context, and it ends after limit bytes.
type cancellingReader struct {
	cancel          context.CancelFunc
	cancelAt, limit int
	n               int
}

func (r *cancellingReader) Read(p []byte) (int, error) {
	if r.n >= r.limit {
		return 0, io.EOF
	}
	if r.n >= r.cancelAt {
		r.cancel()
	}
	k := min(len(p), r.limit-r.n, 4096)
	for i := range p[:k] {
		p[i] = 'y'
	}
	r.n += k
	return k, nil
}

func testCancelled(t *testing.T, newStore func(t *testing.T) (store.Store, Contents)) {
	t.Run("before", func(t *testing.T) {
		s, c := newStore(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		err := s.Deliver(ctx, envelope(), strings.NewReader("Subject: late\r\n\r\n"))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Deliver with a cancelled context: err = %v, want context.Canceled", err)
		}
		checkEmpty(t, c)
	})
	t.Run("midway", func(t *testing.T) {
		s, c := newStore(t)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		r := &cancellingReader{cancel: cancel, cancelAt: 64 << 10, limit: 4 << 20}
		err := s.Deliver(ctx, envelope(), r)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Deliver cancelled midway: err = %v, want context.Canceled", err)
		}
		checkEmpty(t, c)
	})
}

// patternReader yields n bytes of a pattern with every byte value in it,
// without holding them.
type patternReader struct{ n, off int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	k := int(min(int64(len(p)), r.n-r.off))
	for i := range p[:k] {
		x := r.off + int64(i)
		p[i] = byte(x ^ x>>8 ^ x>>16)
	}
	r.off += int64(k)
	return k, nil
}

func testLarge(t *testing.T, newStore func(t *testing.T) (store.Store, Contents)) {
	const size = 20 << 20
	s, c := newStore(t)
	h := sha256.New()
	if _, err := io.Copy(h, &patternReader{n: size}); err != nil {
		t.Fatal(err)
	}
	want := [32]byte(h.Sum(nil))

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := s.Deliver(t.Context(), envelope(), oneShot(&patternReader{n: size}))
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatalf("Deliver of %d bytes: %v", size, err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/4 {
		t.Errorf("Deliver of %d bytes allocated %d bytes: the message is not streamed", size, alloc)
	}
	msgs, err := c.Messages(t.Context())
	if err != nil {
		t.Fatalf("reading back the store: %v", err)
	}
	if len(msgs) == 0 {
		t.Fatalf("the %d-byte message is missing from the store", size)
	}
	for _, m := range msgs {
		sum, n, err := hashOf(m)
		switch {
		case err != nil:
			t.Errorf("reading %s: %v", m.Path, err)
		case m.Partial:
			t.Errorf("partial delivery left behind: %s", m.Path)
		case n != size || sum != want:
			t.Errorf("%s holds %d bytes, not the %d delivered", m.Path, n, size)
		}
	}
}

// oneShot hides every method of r but Read, so that a store cannot seek
// back or learn the size: it gets a stream, as from a server.
func oneShot(r io.Reader) io.Reader { return struct{ io.Reader }{r} }
