package postgres_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"runtime"
	"testing"

	"github.com/ownmx/ownmx/store/postgres"
)

// TestRoundTrip delivers messages of sizes around and across the chunk
// size and reads each back through List and Open, byte for byte.
func TestRoundTrip(t *testing.T) {
	s, _ := newStore(t, nil)
	sizes := []int64{1, 1 << 10, 300 << 10, 20 << 20,
		postgres.ChunkSize - 1, postgres.ChunkSize, postgres.ChunkSize + 1, 2 * postgres.ChunkSize, 2*postgres.ChunkSize + 1}
	for _, size := range sizes {
		t.Run(fmt.Sprintf("%d bytes", size), func(t *testing.T) {
			mailbox := fmt.Sprintf("size%d@example.com", size)
			if err := s.Deliver(t.Context(), env(mailbox), oneShot(&patternReader{n: size})); err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			sums := list(t, s, mailbox, postgres.Inbox)
			if len(sums) != 1 {
				t.Fatalf("List: %d entries, want 1", len(sums))
			}
			if sums[0].Size != size {
				t.Errorf("Summary.Size = %d, want %d", sums[0].Size, size)
			}
			rc, err := s.Open(t.Context(), sums[0].ID)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer rc.Close()
			h := sha256.New()
			n, err := io.Copy(h, rc)
			if err != nil {
				t.Fatalf("reading back: %v", err)
			}
			if n != size || [32]byte(h.Sum(nil)) != patternSum(size) {
				t.Errorf("read back %d bytes that differ from the %d delivered", n, size)
			}
		})
	}
}

// TestBigMessageMemory checks that a 20 MiB message goes in and comes out
// without being held in memory: the bytes allocated while delivering it,
// and while reading it back, stay a small part of its size.
func TestBigMessageMemory(t *testing.T) {
	const size = 20 << 20
	s, _ := newStore(t, nil)
	deliver(t, s, env(), []byte("warm up the pool and the statement cache\r\n"))
	read(t, s, list(t, s, "rcpt@example.com", postgres.Inbox)[0].ID)

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := s.Deliver(t.Context(), env("big@example.com"), oneShot(&patternReader{n: size}))
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/8 {
		t.Errorf("Deliver of %d bytes allocated %d bytes: the message is not streamed", size, alloc)
	} else {
		t.Logf("Deliver of %d bytes allocated %d bytes", size, alloc)
	}

	id := list(t, s, "big@example.com", postgres.Inbox)[0].ID
	h := sha256.New()
	runtime.ReadMemStats(&before)
	rc, err := s.Open(t.Context(), id)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	n, err := io.CopyBuffer(h, rc, make([]byte, 32<<10))
	rc.Close()
	runtime.ReadMemStats(&after)
	if err != nil || n != size {
		t.Fatalf("reading back: %d bytes, %v", n, err)
	}
	if [32]byte(h.Sum(nil)) != patternSum(size) {
		t.Errorf("the bytes read back differ from those delivered")
	}
	switch alloc := after.TotalAlloc - before.TotalAlloc; {
	case raceEnabled:
		t.Logf("reading %d bytes allocated %d bytes (not checked under the race detector: see race_test.go)", size, alloc)
	case alloc > size/8:
		t.Errorf("reading %d bytes allocated %d bytes: the message is not streamed", size, alloc)
	default:
		t.Logf("reading %d bytes allocated %d bytes", size, alloc)
	}
}

// TestHeaderFields checks From and Subject as List shows them: decoded, in
// valid UTF-8 without control characters (which a text column refuses).
func TestHeaderFields(t *testing.T) {
	s, _ := newStore(t, nil)
	cases := []struct {
		name, header, from, subject string
	}{
		{"plain", "From: alice@example.org\r\nSubject: hello\r\n", "alice@example.org", "hello"},
		{"display name", "From: Alice Liddell <alice@example.org>\r\nSubject: hi\r\n", "Alice Liddell <alice@example.org>", "hi"},
		{"encoded words (RFC 2047)", "From: =?UTF-8?Q?Z=C3=B6e?= <zoe@example.org>\r\nSubject: =?ISO-8859-1?Q?caf=E9?=\r\n", "Zöe <zoe@example.org>", "café"},
		{"folded subject", "Subject: one\r\n two\r\n", "", "one two"},
		{"no fields", "X-Other: 1\r\n", "", ""},
		{"not an address", "From: undisclosed\r\n", "undisclosed", ""},
		{"not an address, with NUL", "From: undisclosed\x00 recipients\r\n", "undisclosed recipients", ""},
		{"NUL and controls", "Subject: a\x00b\x07c\r\n", "", "abc"},
		{"invalid UTF-8", "Subject: caf\xe9\r\n", "", "caf\uFFFD"},
		{"bare LF", "From: bob@example.org\nSubject: lf\n", "bob@example.org", "lf"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mailbox := fmt.Sprintf("h%d@example.com", i)
			deliver(t, s, env(mailbox), []byte(tc.header+"\r\nbody\r\n"))
			sums := list(t, s, mailbox, postgres.Inbox)
			if len(sums) != 1 {
				t.Fatalf("List: %d entries, want 1", len(sums))
			}
			if sums[0].From != tc.from || sums[0].Subject != tc.subject {
				t.Errorf("From, Subject = %q, %q; want %q, %q", sums[0].From, sums[0].Subject, tc.from, tc.subject)
			}
			if got := read(t, s, sums[0].ID); !bytes.Equal(got, []byte(tc.header+"\r\nbody\r\n")) {
				t.Errorf("the message read back differs: %q", got)
			}
		})
	}
}
