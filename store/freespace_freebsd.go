//go:build freebsd

package store

import (
	"io/fs"

	"golang.org/x/sys/unix"
)

// statFS reads the counts of the file system holding path.
func statFS(path string) (fsStats, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return fsStats{}, &fs.PathError{Op: "statfs", Path: path, Err: err}
	}
	return fsStats{availBlocks: st.Bavail, blockSize: clampInt64(st.Bsize), files: clampInt64(st.Files), freeFiles: st.Ffree}, nil
}
