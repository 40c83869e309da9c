//go:build linux

package store

import (
	"io/fs"

	"golang.org/x/sys/unix"
)

// statFS reads the counts of the file system holding path. The block
// counts are in units of f_frsize (f_bsize where the kernel leaves it 0),
// as df takes them.
func statFS(path string) (fsStats, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return fsStats{}, &fs.PathError{Op: "statfs", Path: path, Err: err}
	}
	size := st.Frsize
	if size <= 0 {
		size = st.Bsize
	}
	return fsStats{availBlocks: clampInt64(st.Bavail), blockSize: size, files: clampInt64(st.Files), freeFiles: clampInt64(st.Ffree)}, nil
}
