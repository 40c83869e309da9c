package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"syscall"
)

// MinFreeInodes is the number of free inodes (files that can still be
// made) below which FreeSpace reports no space at all, on file systems that
// count them: every message takes an inode and a new mailbox eight, so a
// disk out of inodes refuses mail however many bytes it has free. 1,000
// covers a burst of deliveries between two checks.
const MinFreeInodes = 1000

// fsStats is what FreeSpace needs of statfs.
type fsStats struct {
	availBlocks int64 // blocks free for unprivileged users (f_bavail)
	blockSize   int64 // the unit of availBlocks
	files       int64 // inodes in all (f_files); 0 if not counted
	freeFiles   int64 // inodes free (f_ffree)
}

// freeBytes is FreeSpace's answer for s.
func freeBytes(s fsStats) int64 {
	if s.files > 0 && s.freeFiles < MinFreeInodes {
		return 0
	}
	if s.availBlocks <= 0 || s.blockSize <= 0 {
		return 0
	}
	if s.availBlocks > math.MaxInt64/s.blockSize {
		return math.MaxInt64
	}
	return s.availBlocks * s.blockSize
}

// freeSpace returns freeBytes for the file system holding path, or its
// nearest existing parent.
func freeSpace(ctx context.Context, path string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("store: free space of %s: %w", path, err)
	}
	p := path
	for {
		s, err := statFS(p)
		if err == nil {
			return freeBytes(s), nil
		}
		parent := filepath.Dir(p)
		missing := errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
		if !missing || parent == p {
			return 0, fmt.Errorf("store: free space of %s: %w", path, err)
		}
		p = parent
	}
}

// clampInt64 converts a count to int64, saturating.
func clampInt64(n uint64) int64 {
	if n > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(n)
}
