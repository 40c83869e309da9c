package store

import (
	"context"
	"math"
	"testing"
)

// freeBytes: f_bavail times the block size, saturating, and 0 once fewer
// than MinFreeInodes inodes are free on a file system that counts them.
func TestFreeBytes(t *testing.T) {
	const gib = 1 << 30
	for _, tc := range []struct {
		name string
		s    fsStats
		want int64
	}{
		{"plain", fsStats{availBlocks: 1000, blockSize: 4096, files: 1e6, freeFiles: 5e5}, 1000 * 4096},
		{"inodes at the minimum", fsStats{availBlocks: gib, blockSize: 4096, files: 1e6, freeFiles: MinFreeInodes}, gib * 4096},
		{"inodes just below", fsStats{availBlocks: gib, blockSize: 4096, files: 1e6, freeFiles: MinFreeInodes - 1}, 0},
		{"no inodes free", fsStats{availBlocks: gib, blockSize: 4096, files: 1e6, freeFiles: 0}, 0},
		{"inodes not counted (btrfs)", fsStats{availBlocks: 10, blockSize: 4096, files: 0, freeFiles: 0}, 10 * 4096},
		{"no blocks", fsStats{availBlocks: 0, blockSize: 4096, files: 1e6, freeFiles: 1e6}, 0},
		{"over the reserve (FreeBSD)", fsStats{availBlocks: -5, blockSize: 4096, files: 1e6, freeFiles: 1e6}, 0},
		{"huge", fsStats{availBlocks: math.MaxInt64 / 2, blockSize: 1 << 20, files: 1e6, freeFiles: 1e6}, math.MaxInt64},
	} {
		if got := freeBytes(tc.s); got != tc.want {
			t.Errorf("%s: freeBytes(%+v) = %d, want %d", tc.name, tc.s, got, tc.want)
		}
	}
}

// FreeSpace refuses to guess without a directory or with a dead context.
func TestFreeSpaceErrors(t *testing.T) {
	ctx := t.Context()
	if _, err := (&Mailboxes{}).FreeSpace(ctx); err == nil {
		t.Error("Mailboxes without Root: no error")
	}
	if _, err := (&Maildir{}).FreeSpace(ctx); err == nil {
		t.Error("Maildir without Dir: no error")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := (&Mailboxes{Root: t.TempDir()}).FreeSpace(cancelled); err == nil {
		t.Error("cancelled context: no error")
	}
}
