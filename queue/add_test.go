package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// A committed message is one file in queue/: its header line holds the
// envelope and the deliveries, the message follows byte for byte, and
// tmp/ is empty.
func TestAddWritesOneFile(t *testing.T) {
	q := open(t, nil)
	body := "Subject: hi\r\n\r\nhello\r\n"
	id := add(t, q, body, "store", "hook")
	if got := names(t, filepath.Join(q.root, queueDir)); len(got) != 1 || got[0] != id {
		t.Fatalf("queue/ holds %v, want [%s]", got, id)
	}
	if got := names(t, filepath.Join(q.root, tmpDir)); len(got) != 0 {
		t.Errorf("tmp/ holds %v after Add", got)
	}
	f, err := os.Open(filepath.Join(q.root, queueDir, id))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, off, size, err := readHeader(f)
	if err != nil {
		t.Fatal(err)
	}
	if h.Envelope.From != "a@example.org" || len(h.Deliveries) != 2 || h.Deliveries[1].Action != "hook" || h.Envelope.Received.IsZero() {
		t.Errorf("header = %+v", h)
	}
	b, _ := io.ReadAll(io.NewSectionReader(f, off, size))
	if string(b) != body {
		t.Errorf("message = %q, want %q", b, body)
	}
}

// "250 means on disk": Add returns only after an fsync of queue/ that
// began once the message's file was there, and concurrent Adds share
// those fsyncs.
func TestAddFlushesQueueDir(t *testing.T) {
	q := open(t, nil)
	var mu sync.Mutex
	var seen []string // names in queue/ at the start of each fsync
	q.queueSync.fsync = func(dir string) error {
		ents, _ := os.ReadDir(dir)
		mu.Lock()
		for _, e := range ents {
			seen = append(seen, e.Name())
		}
		mu.Unlock()
		return syncDir(dir)
	}
	id := add(t, q, "x", "a")
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != id {
		t.Errorf("fsyncs of queue/ saw %v before Add returned, want [%s]", seen, id)
	}
}

// A committer whose entry came before an fsync already running waits for
// that one instead of starting its own; those whose entries came after
// wait for it to end and then share one more (group commit).
func TestSyncShares(t *testing.T) {
	s := &dirSyncer{dir: t.TempDir()}
	started, release := make(chan struct{}, 3), make(chan struct{})
	s.fsync = func(string) error { started <- struct{}{}; <-release; return nil }
	waiting := make(chan struct{}, 3)
	s.waiting = func() { waiting <- struct{}{} }
	recv := func(ch chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			close(release)
			t.Fatalf("no committer %s within 10s", what)
		}
	}
	early := s.ticket()
	late := s.ticket()
	errs := make(chan error, 5)
	go func() { errs <- s.wait(late) }() // starts the fsync covering both
	recv(started, "started an fsync")
	go func() { errs <- s.wait(early) }() // shares it
	recv(waiting, "waited for the running fsync")
	for range 3 { // come after it began: share the next
		after := s.ticket()
		go func() { errs <- s.wait(after) }()
		recv(waiting, "queued behind the running fsync")
	}
	close(release)
	for range 5 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if s.fsyncs != 2 {
		t.Errorf("%d fsyncs for 5 entries, 2 of which came before the first began; want 2", s.fsyncs)
	}
}

// failingReader fails after giving some bytes.
type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errors.New("connection reset")
	}
	n := min(len(p), r.n)
	r.n -= n
	return n, nil
}

// A failed Add leaves nothing behind, in tmp/ or in queue/, and a running
// queue does not see it.
func TestAddFailureLeavesNothing(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name  string
		ctx   context.Context
		body  io.Reader
		fsync func(string) error
	}{
		{"body fails", context.Background(), &failingReader{100 << 10}, nil},
		{"context cancelled", cancelled, strings.NewReader("x"), nil},
		{"directory flush fails", context.Background(), strings.NewReader("x"), func(string) error { return errors.New("EIO") }},
	}
	for _, c := range cases {
		for _, named := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/named=%v", c.name, named), func(t *testing.T) {
				q := open(t, nil)
				q.named = named
				q.queueSync.fsync = c.fsync
				_, err := q.Add(c.ctx, &Envelope{}, []Delivery{{Action: "a"}}, c.body)
				if err == nil {
					t.Fatal("Add succeeded")
				}
				for _, d := range []string{tmpDir, queueDir} {
					if got := names(t, filepath.Join(q.root, d)); len(got) != 0 {
						t.Errorf("%s/ holds %v after a failed Add", d, got)
					}
				}
				if q.sched.len() != 0 {
					t.Errorf("the schedule holds %d messages after a failed Add", q.sched.len())
				}
			})
		}
	}
}

// IDs are unique and sort as the messages were committed, also across a
// reopening with a clock that went back.
func TestIDsIncrease(t *testing.T) {
	c := newClock()
	dir := filepath.Join(t.TempDir(), "q")
	q := openDir(t, dir, &Options{Now: c.Now})
	var ids []string
	for range 3 {
		ids = append(ids, add(t, q, "x", "a"))
	}
	q.Close()
	c.Add(-time.Hour)
	q = openDir(t, dir, &Options{Now: c.Now})
	ids = append(ids, add(t, q, "x", "a"))
	q.named = true // the other way of committing
	ids = append(ids, add(t, q, "x", "a"))
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Errorf("ID %s came after %s", ids[i], ids[i-1])
		}
	}
}

// Only one Queue has a directory open at a time.
func TestOpenLocked(t *testing.T) {
	q := open(t, nil)
	if _, err := Open(q.root, nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	q.Close()
	q2, err := Open(q.root, nil)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	q2.Close()
	if _, err := q.Add(context.Background(), nil, []Delivery{{Action: "a"}}, bytes.NewReader(nil)); !errors.Is(err, ErrClosed) {
		t.Errorf("Add after Close: %v, want ErrClosed", err)
	}
}
