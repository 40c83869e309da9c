//go:build linux

package queue

import (
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// datasync flushes f's data and the metadata needed to read it back.
func datasync(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
		}
		return nil
	}
}

// renameNoReplace renames from to to, failing with an error wrapping
// fs.ErrExist rather than replacing a file there.
func renameNoReplace(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	if err == unix.EINVAL || err == unix.ENOSYS {
		return linkRename(from, to)
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}

// createUnnamed opens a file without a name (O_TMPFILE) in dir, to be
// named with linkUnnamed once it is written and flushed: a crash before
// that leaves nothing behind, and the commit makes one directory entry
// instead of a file in tmp/ and a rename. It fails with errUnnamed where
// the file system cannot do it, or /proc is not there to name it.
func createUnnamed(dir string) (*os.File, error) {
	if !procFD() {
		return nil, errUnnamed
	}
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
	switch err {
	case nil:
		return os.NewFile(uintptr(fd), dir+"/(unnamed)"), nil
	case unix.EOPNOTSUPP, unix.EISDIR, unix.EINVAL:
		return nil, errUnnamed
	}
	return nil, &os.PathError{Op: "open O_TMPFILE", Path: dir, Err: err}
}

// linkUnnamed names the file that createUnnamed opened, failing with an
// error wrapping fs.ErrExist when the name is taken.
func linkUnnamed(f *os.File, path string) error {
	err := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(int(f.Fd())), unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
	if err != nil {
		return &os.LinkError{Op: "linkat", Old: f.Name(), New: path, Err: err}
	}
	return nil
}

// procFD reports whether /proc/self/fd is there to name unnamed files.
var procFD = sync.OnceValue(func() bool {
	_, err := os.Stat("/proc/self/fd")
	return err == nil
})
