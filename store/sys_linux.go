//go:build linux

package store

import (
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// procFD reports whether /proc/self/fd exists: linkat needs it to give a name
// to an O_TMPFILE file without the CAP_DAC_READ_SEARCH that AT_EMPTY_PATH
// asks for.
var procFD = sync.OnceValue(func() bool {
	_, err := os.Stat("/proc/self/fd")
	return err == nil
})

// openUnnamed opens a file without a name in dir (O_TMPFILE). It returns
// errUnnamed when the kernel or the file system cannot do that, so that the
// caller falls back to a named file in tmp/.
func openUnnamed(dir string) (*os.File, error) {
	if !procFD() {
		return nil, errUnnamed
	}
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
	if err != nil {
		switch err {
		case unix.EOPNOTSUPP, unix.EISDIR, unix.EINVAL:
			return nil, errUnnamed
		}
		return nil, &os.PathError{Op: "open O_TMPFILE", Path: dir, Err: err}
	}
	return os.NewFile(uintptr(fd), dir), nil
}

// linkUnnamed gives the file opened by openUnnamed the name newPath.
func linkUnnamed(f *os.File, newPath string) error {
	proc := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	if err := unix.Linkat(unix.AT_FDCWD, proc, unix.AT_FDCWD, newPath, unix.AT_SYMLINK_FOLLOW); err != nil {
		return &os.LinkError{Op: "linkat", Old: f.Name() + " (unnamed)", New: newPath, Err: err}
	}
	return nil
}

// renameNoReplace moves oldPath to newPath, failing rather than replacing
// a file already at newPath, as the maildir spec asks of its link+unlink.
func renameNoReplace(oldPath, newPath string) error {
	err := unix.Renameat2(unix.AT_FDCWD, oldPath, unix.AT_FDCWD, newPath, unix.RENAME_NOREPLACE)
	if err == nil {
		return nil
	}
	if err != unix.EINVAL && err != unix.ENOSYS {
		return &os.LinkError{Op: "rename", Old: oldPath, New: newPath, Err: err}
	}
	// The file system does not know RENAME_NOREPLACE: link, then unlink.
	if err := os.Link(oldPath, newPath); err != nil {
		return err
	}
	return os.Remove(oldPath)
}

// fdatasync flushes f's data and the metadata needed to read it back.
func fdatasync(f *os.File) error {
	for i := 0; ; i++ {
		err := unix.Fdatasync(int(f.Fd()))
		if err == unix.EINTR && i < 100 {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
		}
		return nil
	}
}
