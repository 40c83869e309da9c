package store

import (
	"os"
	"slices"
	"sync"
	"sync/atomic"
)

// Shared directory flushes.
//
// A message is durable in a Maildir once the directory entry that names it
// in new/ has reached the disk, which takes an fsync of new/ that begins
// after the entry was made. One fsync covers every entry made before it
// began, so a delivery whose rename came before an fsync that another
// delivery has already started waits for that one instead of starting its
// own. A delivery that finds no such fsync starts one at once, even while
// others (which began too early to cover it) are running: it never waits
// for an fsync that does not cover it.
//
// An earlier design queued latecomers behind the running fsync and let them
// share the next one (classic group commit). On the machine we measured, a
// directory fsync costs about 0.1 ms and the kernel already runs concurrent
// fsyncs in parallel, so queueing only added waiting: 10 concurrent
// deliverers were slower with it than with one fsync each. Sharing only
// fsyncs that have already started keeps the savings without the queue.
//
// Each delivery takes a ticket, a number from a counter of the directory,
// right after its rename; an fsync records the counter when it starts. The
// fsync covers the ticket when that record is at least the ticket.

// dirSyncer shares the fsyncs of one directory.
type dirSyncer struct {
	dir  string
	refs int // deliveries holding it; guarded by dirSyncers.mu

	mu      sync.Mutex
	tickets uint64    // renames noted so far
	synced  uint64    // highest start record of a completed, successful fsync
	flights []*flight // fsyncs running

	// For tests: fsync replaces syncDir; waiting runs when a sync is about
	// to wait for an fsync that another started. Both nil outside tests.
	fsync   func(dir string) error
	waiting func()
}

// flight is one fsync of the directory.
type flight struct {
	start uint64        // s.tickets when it began: it covers tickets up to this
	done  chan struct{} // closed when it returned; err is then set
	err   error
}

// dirSyncers holds one dirSyncer per directory that deliveries in this
// process are using now, so that all of them share fsyncs, whichever Maildir
// or Mailboxes value they came through. Entries go when the last user
// releases them.
var dirSyncers = struct {
	mu sync.Mutex
	m  map[string]*dirSyncer
}{m: make(map[string]*dirSyncer)}

// acquireSyncer returns the syncer for dir; release it when done.
func acquireSyncer(dir string) *dirSyncer {
	dirSyncers.mu.Lock()
	defer dirSyncers.mu.Unlock()
	s := dirSyncers.m[dir]
	if s == nil {
		s = &dirSyncer{dir: dir}
		dirSyncers.m[dir] = s
	}
	s.refs++
	return s
}

// release gives s back; the last user removes it from dirSyncers.
func (s *dirSyncer) release() {
	dirSyncers.mu.Lock()
	defer dirSyncers.mu.Unlock()
	s.refs--
	if s.refs == 0 {
		delete(dirSyncers.m, s.dir)
	}
}

// ticket notes that an entry was just made in the directory and returns the
// number to pass to sync. Call it after the rename or link has returned.
func (s *dirSyncer) ticket() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tickets++
	return s.tickets
}

// sync returns once an fsync of the directory that began after ticket t
// was taken has completed, with that fsync's error. An fsync that this
// call starts is fsync(), or syncDir of the directory's path when fsync is
// nil.
func (s *dirSyncer) sync(t uint64, fsync func() error) error {
	s.mu.Lock()
	if s.synced >= t {
		s.mu.Unlock()
		return nil
	}
	for _, f := range s.flights {
		if f.start >= t {
			s.mu.Unlock()
			if s.waiting != nil {
				s.waiting()
			}
			<-f.done
			return f.err
		}
	}
	f := &flight{start: s.tickets, done: make(chan struct{})}
	s.flights = append(s.flights, f)
	s.mu.Unlock()

	switch {
	case s.fsync != nil:
		f.err = s.fsync(s.dir)
	case fsync != nil:
		f.err = fsync()
	default:
		f.err = syncDir(s.dir)
	}

	s.mu.Lock()
	s.flights = slices.DeleteFunc(s.flights, func(g *flight) bool { return g == f })
	if f.err == nil && f.start > s.synced {
		s.synced = f.start
	}
	s.mu.Unlock()
	close(f.done)
	return f.err
}

// dirFsyncs counts the directory fsyncs of this process, for benchmarks.
var dirFsyncs atomic.Uint64

// dirSynced, when set by a test, is called with the path of each directory
// after its fsync succeeded: the test sees that "250 means on disk" holds
// on the real path, in which order the steps ran. nil outside tests.
var dirSynced func(path string)

// noteDirSynced calls dirSynced, if set.
func noteDirSynced(path string) {
	if dirSynced != nil {
		dirSynced(path)
	}
}

// syncDir fsyncs the directory dir, making the entries in it durable.
func syncDir(dir string) error {
	dirFsyncs.Add(1)
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		noteDirSynced(dir)
	}
	return err
}
