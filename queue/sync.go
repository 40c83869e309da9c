package queue

import (
	"os"
	"slices"
	"sync"
)

// Group commit of directory flushes.
//
// An entry made in a directory (a committed message, a done record) is
// durable once an fsync of the directory that began after the entry was
// made has returned. One fsync covers every entry made before it began, so
// a committer whose entry came before an fsync that is already running
// waits for that one rather than starting its own. One whose entry came
// after waits for the running fsync to end and then starts one, which
// covers every committer that queued meanwhile (classic group commit).
//
// store's Maildir starts an fsync at once in that case instead, having
// measured that queueing was slower for it. For Add it is not:
// BenchmarkAdd with 10 committers gave the same commits/s either way (554
// and 516 a second for 1 KiB, within the noise of the machine) with 1.0
// directory fsync per Add without queueing and 0.37 with it, so the queue
// takes the one that spares the disk.

// dirSyncer shares the fsyncs of one directory among its committers.
type dirSyncer struct {
	dir string

	mu      sync.Mutex
	tickets uint64    // entries noted so far
	synced  uint64    // highest start of a completed, successful fsync
	flights []*flight // fsyncs running

	fsyncs uint64 // fsyncs started, for tests and benchmarks

	// For tests: fsync replaces syncDir; waiting runs when a committer
	// is about to wait for an fsync that another started.
	fsync   func(dir string) error
	waiting func()
}

// flight is one running fsync of the directory.
type flight struct {
	start uint64        // tickets when it began: it covers them
	done  chan struct{} // closed when it returned; err is then set
	err   error
}

// ticket notes that an entry was just made in the directory and returns
// the number to pass to wait. Call it right after the rename.
func (s *dirSyncer) ticket() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tickets++
	return s.tickets
}

// sync makes an entry that was just made durable: ticket, then wait.
func (s *dirSyncer) sync() error { return s.wait(s.ticket()) }

// wait returns once an fsync of the directory that began after ticket t
// was taken has returned, with that fsync's error.
func (s *dirSyncer) wait(t uint64) error {
	s.mu.Lock()
	for {
		if s.synced >= t {
			s.mu.Unlock()
			return nil
		}
		var running *flight
		for _, f := range s.flights {
			if f.start >= t {
				s.mu.Unlock()
				if s.waiting != nil {
					s.waiting()
				}
				<-f.done
				return f.err
			}
			running = f
		}
		if running == nil {
			break
		}
		s.mu.Unlock()
		if s.waiting != nil {
			s.waiting()
		}
		<-running.done
		s.mu.Lock()
	}
	f := &flight{start: s.tickets, done: make(chan struct{})}
	s.flights = append(s.flights, f)
	s.fsyncs++
	s.mu.Unlock()

	if s.fsync != nil {
		f.err = s.fsync(s.dir)
	} else {
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

// linkRename renames from to to by a link and an unlink, which fails with
// an error wrapping fs.ErrExist when to exists.
func linkRename(from, to string) error {
	if err := os.Link(from, to); err != nil {
		return err
	}
	return os.Remove(from)
}
