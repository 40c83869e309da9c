package store

import (
	"os"
	"sync"
)

// Group commit of directory flushes.
//
// A message is durable in a Maildir once the directory entry that names it
// in new/ has reached the disk, which takes an fsync of new/. One fsync
// covers every entry made before it began, so deliveries to the same
// directory that finish their rename while another fsync is running wait for
// the next one and share it: a batch. The rule that keeps "nil means on disk"
// is that a delivery joins a batch only after its rename, and a batch's
// fsync starts only after the batch is closed to new members.
//
// No goroutine is started: the first delivery of a batch that finds no fsync
// running does the fsync itself (the leader); when it finishes it hands the
// lead of the next batch, if any, to one of that batch's members.

// dirSyncer groups the fsyncs of one directory.
type dirSyncer struct {
	dir  string
	refs int // deliveries holding it; guarded by dirSyncers.mu

	mu      sync.Mutex
	pending *batch // collecting members for the next fsync, or nil
	busy    bool   // an fsync of dir is running or about to

	// For tests: fsync replaces syncDir, joined runs when a caller has
	// joined a batch. Both nil outside tests.
	fsync  func(dir string) error
	joined func()
}

// batch is the set of deliveries that one fsync covers.
type batch struct {
	done chan struct{} // closed when the fsync returned; err is then set
	lead chan struct{} // receives once: the receiver runs the fsync
	err  error
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

// sync returns after an fsync of s.dir that began after sync was called has
// completed, with that fsync's error. Call it after the rename to be covered.
func (s *dirSyncer) sync() error {
	s.mu.Lock()
	b := s.pending
	if b == nil {
		b = &batch{done: make(chan struct{}), lead: make(chan struct{}, 1)}
		s.pending = b
	}
	if s.joined != nil {
		s.joined()
	}
	if !s.busy {
		s.busy = true
		s.mu.Unlock()
		s.run(b)
		return b.err
	}
	s.mu.Unlock()
	select {
	case <-b.done:
	case <-b.lead:
		s.run(b)
	}
	return b.err
}

// run closes b to new members, fsyncs the directory for it, and hands the
// lead to the next batch or marks s idle. s.busy is true throughout.
func (s *dirSyncer) run(b *batch) {
	s.mu.Lock()
	s.pending = nil // b; later arrivals start a new batch
	s.mu.Unlock()

	if s.fsync != nil {
		b.err = s.fsync(s.dir)
	} else {
		b.err = syncDir(s.dir)
	}
	close(b.done)

	s.mu.Lock()
	if s.pending != nil {
		s.pending.lead <- struct{}{} // buffered and sent once per batch
	} else {
		s.busy = false
	}
	s.mu.Unlock()
}

// syncDir fsyncs the directory dir, making the entries in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
