//go:build linux

package store

import (
	"io/fs"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// noOpenat2 is set once the kernel has said it has no openat2 (ENOSYS,
// before Linux 5.6): every open is then done a component at a time.
var noOpenat2 atomic.Bool

// beneath is the resolution of openat2 that keeps a path inside the
// directory it starts from and follows no symbolic link on the way.
const beneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS

// openat2Beneath opens rel beneath root with flags and mode. stepwise
// reports that openat2 could not answer (missing, refused by a filter, a
// rename racing it, or a link somewhere on the way) and the caller should
// walk rel a component at a time, which also names the link.
func openat2Beneath(root dir, rel string, flags, mode uint64) (fd int, stepwise bool, err error) {
	if noOpenat2.Load() {
		return -1, true, nil
	}
	how := unix.OpenHow{Flags: flags, Mode: mode, Resolve: beneath}
	for try := 0; ; try++ {
		fd, err := unix.Openat2(root.fd, rel, &how)
		switch err {
		case nil:
			return fd, false, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN: // a rename elsewhere on the file system raced the lookup
			if try < 4 {
				continue
			}
			return -1, true, nil
		case unix.ENOSYS:
			noOpenat2.Store(true)
			return -1, true, nil
		case unix.EPERM, unix.ELOOP, unix.EXDEV:
			return -1, true, nil
		}
		return -1, false, &fs.PathError{Op: "open", Path: fullPath(root.path, rel), Err: err}
	}
}

// openBeneath opens the directory rel beneath root without following any
// symbolic link; stepwise forces the walk a component at a time (for
// tests).
func openBeneath(root dir, rel string, stepwise bool) (dir, error) {
	if !stepwise {
		fd, walk, err := openat2Beneath(root, rel, dirFlags, 0)
		if !walk {
			if err != nil {
				return noDir, err
			}
			return dir{fd: fd, path: fullPath(root.path, rel)}, nil
		}
	}
	return openStepwise(root, rel)
}

// procFD reports whether /proc/self/fd exists: linkat needs it to give a name
// to an O_TMPFILE file without the CAP_DAC_READ_SEARCH that AT_EMPTY_PATH
// asks for.
var procFD = sync.OnceValue(func() bool {
	_, err := os.Stat("/proc/self/fd")
	return err == nil
})

// tmpfileFlags open a file without a name (O_TMPFILE) for writing.
const tmpfileFlags = unix.O_TMPFILE | unix.O_WRONLY | unix.O_CLOEXEC

// openTmpfile opens a file without a name in the directory rel beneath
// root (O_TMPFILE). It returns errUnnamed when the kernel or the file
// system cannot do that, so that the caller falls back to a named file.
func openTmpfile(root dir, rel string, stepwise bool) (*os.File, error) {
	if !procFD() && !emptyPathLinks() {
		return nil, errUnnamed
	}
	where := fullPath(root.path, rel)
	fd, walk, err := -1, true, error(nil)
	if !stepwise {
		fd, walk, err = openat2Beneath(root, rel, tmpfileFlags, 0o600)
	}
	if walk {
		d, derr := openStepwise(root, rel)
		if derr != nil {
			return nil, derr
		}
		fd, err = unix.Openat(d.fd, ".", tmpfileFlags, 0o600)
		d.close()
		if err != nil {
			err = &fs.PathError{Op: "open O_TMPFILE", Path: where, Err: err}
		}
	}
	if err != nil {
		if pe, ok := err.(*fs.PathError); ok {
			switch pe.Err {
			case unix.EOPNOTSUPP, unix.EISDIR, unix.EINVAL:
				return nil, errUnnamed
			}
		}
		return nil, err
	}
	return os.NewFile(uintptr(fd), where), nil
}

// emptyPathDenied is set once linkat(AT_EMPTY_PATH) has failed for want of
// CAP_DAC_READ_SEARCH: the names go through /proc/self/fd from then on.
var emptyPathDenied atomic.Bool

// emptyPathLinks reports whether linkat(AT_EMPTY_PATH) may still work.
func emptyPathLinks() bool { return !emptyPathDenied.Load() }

// linkUnnamed gives the file opened by openTmpfile the name name in to:
// linkat with AT_EMPTY_PATH where this process may (it takes
// CAP_DAC_READ_SEARCH), through /proc/self/fd otherwise.
func linkUnnamed(f *os.File, to dir, name string) error {
	fd := int(f.Fd())
	if !emptyPathDenied.Load() {
		err := unix.Linkat(fd, "", to.fd, name, unix.AT_EMPTY_PATH)
		if err == nil {
			return nil
		}
		if (err != unix.ENOENT && err != unix.EPERM) || !procFD() {
			return &os.LinkError{Op: "linkat", Old: f.Name() + " (unnamed)", New: fullPath(to.path, name), Err: err}
		}
		// ENOENT is also what a removed to gives; the /proc link says which.
		if perr := linkProc(fd, to, name); perr != nil {
			return &os.LinkError{Op: "linkat", Old: f.Name() + " (unnamed)", New: fullPath(to.path, name), Err: perr}
		}
		emptyPathDenied.Store(true)
		return nil
	}
	if err := linkProc(fd, to, name); err != nil {
		return &os.LinkError{Op: "linkat", Old: f.Name() + " (unnamed)", New: fullPath(to.path, name), Err: err}
	}
	return nil
}

// linkProc links the open file fd as name in to through its /proc link.
func linkProc(fd int, to dir, name string) error {
	return unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), to.fd, name, unix.AT_SYMLINK_FOLLOW)
}

// renameNoReplace moves the file name from from to to, failing rather than
// replacing a file there, as the maildir spec asks of its link+unlink.
func renameNoReplace(from dir, name string, to dir) error {
	err := unix.Renameat2(from.fd, name, to.fd, name, unix.RENAME_NOREPLACE)
	if err == nil {
		return nil
	}
	if err != unix.EINVAL && err != unix.ENOSYS {
		return &os.LinkError{Op: "rename", Old: fullPath(from.path, name), New: fullPath(to.path, name), Err: err}
	}
	// The file system does not know RENAME_NOREPLACE: link, then unlink.
	if err := linkAt(from, name, to); err != nil {
		return err
	}
	return from.remove(name)
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
