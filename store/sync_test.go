package store

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

// Every sync returns only after an fsync that began after its ticket was
// taken has completed: the rule that keeps "nil means on disk".
func TestDirSyncerCoverage(t *testing.T) {
	var events atomic.Int64  // stands for renames: bumped before each ticket
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
				if err := s.sync(s.ticket(), nil); err != nil {
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
	if len(s.flights) != 0 {
		t.Errorf("after all syncs, %d fsyncs still noted as running", len(s.flights))
	}
	t.Logf("%d syncs, %d fsyncs", workers*each, fsyncs.Load())
}

// blockingFsync returns an fsync for tests whose first call blocks until
// release is closed and then fails with errFirst; later calls succeed at
// once. started receives once per call.
func blockingFsync(calls *atomic.Int64, started chan<- struct{}, release <-chan struct{}, errFirst error) func(string) error {
	return func(string) error {
		n := calls.Add(1)
		started <- struct{}{}
		if n == 1 {
			<-release
			return errFirst
		}
		return nil
	}
}

// A delivery whose ticket an fsync already running covers waits for that
// fsync, gets its error, and starts no fsync of its own.
func TestDirSyncerSharing(t *testing.T) {
	release, started := make(chan struct{}), make(chan struct{}, 10)
	errFirst := errors.New("first fsync failed")
	var calls atomic.Int64
	waiting := make(chan struct{}, 1)
	s := &dirSyncer{dir: "fake", fsync: blockingFsync(&calls, started, release, errFirst), waiting: func() { waiting <- struct{}{} }}

	ta, tb := s.ticket(), s.ticket() // two renames, then A syncs first
	a, b := make(chan error, 1), make(chan error, 1)
	go func() { a <- s.sync(ta, nil) }()
	<-started // A's fsync is running and covers B
	go func() { b <- s.sync(tb, nil) }()
	<-waiting // B waits for A's fsync
	close(release)
	for name, ch := range map[string]chan error{"A": a, "B": b} {
		if err := <-ch; !errors.Is(err, errFirst) {
			t.Errorf("sync %s: err = %v, want %v", name, err, errFirst)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d fsyncs, want 1: B should have shared A's", n)
	}
}

// A delivery whose rename came after the running fsync began starts its own
// fsync at once rather than waiting for the running one.
func TestDirSyncerNoQueue(t *testing.T) {
	release, started := make(chan struct{}), make(chan struct{}, 10)
	errFirst := errors.New("first fsync failed")
	var calls atomic.Int64
	s := &dirSyncer{dir: "fake", fsync: blockingFsync(&calls, started, release, errFirst)}

	a := make(chan error, 1)
	ta := s.ticket()
	go func() { a <- s.sync(ta, nil) }()
	<-started
	// A's fsync is blocked; this sync returns regardless, so it did not wait.
	if err := s.sync(s.ticket(), nil); err != nil {
		t.Errorf("late sync: %v", err)
	}
	close(release)
	if err := <-a; !errors.Is(err, errFirst) {
		t.Errorf("sync A: err = %v, want %v", err, errFirst)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d fsyncs, want 2", n)
	}
}

// A ticket already covered by a completed fsync needs no new one.
func TestDirSyncerCompleted(t *testing.T) {
	var calls atomic.Int64
	s := &dirSyncer{dir: "fake", fsync: func(string) error { calls.Add(1); return nil }}
	t1, t2 := s.ticket(), s.ticket()
	if err := s.sync(t2, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.sync(t1, nil); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d fsyncs for two tickets that one covers, want 1", n)
	}
	if err := s.sync(s.ticket(), nil); err != nil || calls.Load() != 2 {
		t.Errorf("a new ticket: err = %v, fsyncs = %d; want its own fsync", err, calls.Load())
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
