package store

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

// Every sync returns only after an fsync that began after the sync was
// called has completed: the rule that keeps "nil means on disk".
func TestDirSyncerCoverage(t *testing.T) {
	var events atomic.Int64  // stands for renames: bumped before each sync call
	var covered atomic.Int64 // highest event value seen at the start of a completed fsync
	var fsyncs atomic.Int64
	s := &dirSyncer{dir: "fake", fsync: func(string) error {
		start := events.Load()
		fsyncs.Add(1)
		for { // covered = max(covered, start)
			c := covered.Load()
			if c >= start || covered.CompareAndSwap(c, start) {
				return nil
			}
		}
	}}
	const workers, each = 16, 200
	var wg sync.WaitGroup
	var bad atomic.Int64
	for range workers {
		wg.Go(func() {
			for range each {
				mine := events.Add(1)
				if err := s.sync(); err != nil {
					bad.Add(1)
				}
				if covered.Load() < mine {
					bad.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := bad.Load(); n != 0 {
		t.Fatalf("%d syncs returned before an fsync that began after them", n)
	}
	if s.busy || s.pending != nil {
		t.Errorf("after all syncs: busy = %v, pending = %v; want idle", s.busy, s.pending)
	}
	t.Logf("%d syncs, %d fsyncs", workers*each, fsyncs.Load())
}

// Callers that arrive while an fsync runs share the next one, and an fsync
// error reaches exactly the callers it covered.
func TestDirSyncerBatching(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 10)
	errFirst := errors.New("first fsync failed")
	var calls atomic.Int64
	joined := make(chan struct{}, 10)
	s := &dirSyncer{
		dir:    "fake",
		joined: func() { joined <- struct{}{} },
		fsync: func(string) error {
			n := calls.Add(1)
			started <- struct{}{}
			if n == 1 {
				<-release
				return errFirst
			}
			return nil
		},
	}
	first := make(chan error, 1)
	go func() { first <- s.sync() }()
	<-joined
	<-started // the first fsync is running and holds the lead

	const late = 5
	results := make(chan error, late)
	for range late {
		go func() { results <- s.sync() }()
	}
	for range late {
		<-joined // all five have joined the pending batch
	}
	close(release)
	if err := <-first; !errors.Is(err, errFirst) {
		t.Errorf("first sync: err = %v, want %v", err, errFirst)
	}
	for range late {
		if err := <-results; err != nil {
			t.Errorf("a sync that joined after the failed fsync got %v", err)
		}
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d fsyncs for one lone sync and %d that arrived together, want 2", n, late)
	}
}

func TestSyncerRegistry(t *testing.T) {
	a := acquireSyncer("/x/new")
	b := acquireSyncer("/x/new")
	if a != b {
		t.Fatal("two deliveries to one directory got different syncers")
	}
	a.release()
	b.release()
	dirSyncers.mu.Lock()
	n := len(dirSyncers.m)
	dirSyncers.mu.Unlock()
	if n != 0 {
		t.Errorf("%d syncers kept after their last release", n)
	}
}
