package queue

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// heapInUse returns the bytes of live heap objects after a collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// runAllOnce opens the queue in dir and runs it with a runner that fails
// every try with a RetryAfter of a day, until each of its n messages was
// tried once; it returns the heap in use then, with the queue running.
func runAllOnce(t *testing.T, dir string, n int) uint64 {
	t.Helper()
	q := openDir(t, dir, &Options{Workers: 8})
	q.noSync = true
	tried := make(chan struct{})
	var left atomic.Int64
	left.Store(int64(n))
	q.jobDone = func() {
		if left.Add(-1) == 0 {
			close(tried)
		}
	}
	stop := run(t, q, RunnerFunc(func(ctx context.Context, m *Message, a *Attempt) error {
		return RetryAfter(errors.New("451 try later"), 24*time.Hour)
	}))
	defer stop()
	if n > 0 {
		select {
		case <-tried:
		case <-time.After(5 * time.Minute):
			t.Fatalf("%d of %d messages were not tried within 5 minutes", left.Load(), n)
		}
	}
	return heapInUse()
}

// memDir returns a directory for the test on a RAM file system when there
// is one: the heap does not depend on where the files are, and on the
// development VM's ext4 the 300,000 files this test makes take minutes.
func memDir(t *testing.T) string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "queue-test"); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}

// 100,000 waiting messages, each tried once and waiting a day for the
// next, cost the running queue less than 5 MiB of heap over an empty one.
func TestMemoryPerWaitingMessage(t *testing.T) {
	const n = 100_000
	root := memDir(t)
	empty := runAllOnce(t, filepath.Join(root, "empty"), 0)

	full := filepath.Join(root, "full")
	q, err := Open(full, nil) // not openDir: its cleanup would keep q alive
	if err != nil {
		t.Fatal(err)
	}
	q.noSync = true
	body := strings.Repeat("x", 1000)
	env := &Envelope{From: "a@example.org", Rcpt: []string{"me@example.com"}}
	for range n {
		if _, err := q.Add(context.Background(), env, []Delivery{{Action: "hook", Rcpt: env.Rcpt}}, strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
	}
	q.Close()
	used := runAllOnce(t, full, n)
	growth := int64(used) - int64(empty)
	t.Logf("heap in use: %d KiB with an empty queue, %d KiB with %d waiting messages: %.1f bytes per message", empty>>10, used>>10, n, float64(growth)/n)
	if growth > 5<<20 {
		t.Errorf("%d waiting messages cost %d KiB of heap, want < 5 MiB", n, growth>>10)
	}
}
