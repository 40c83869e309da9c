//go:build !unix

package queue

import "os"

// lock does nothing where there is no flock: the queue is then safe within
// one process only.
func lock(f *os.File) error { return nil }

// syncDir does nothing where directories cannot be flushed.
func syncDir(dir string) error { return nil }

// lockWait does nothing where there is no flock.
func lockWait(f *os.File) error { return nil }
