//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package store

import (
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// dir is an open directory: a delivery's root, or a directory opened
// beneath it. Names used with it are resolved by the kernel from the
// descriptor, never again from a path.
type dir struct {
	fd   int
	path string // what it stands for, for messages and as its syncer's key
}

// noDir is the zero dir, holding no descriptor.
var noDir = dir{fd: -1}

// dirFlags open a directory for reading (and fsync).
const dirFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC

// openRoot opens the directory at path, following symbolic links: the
// root is the operator's choice.
func openRoot(path string) (dir, error) {
	for {
		fd, err := unix.Open(path, dirFlags, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return noDir, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		return dir{fd: fd, path: path}, nil
	}
}

// close closes d, if it is open.
func (d dir) close() {
	if d.fd >= 0 {
		unix.Close(d.fd)
	}
}

// sync flushes d, making its entries durable.
func (d dir) sync() error {
	dirFsyncs.Add(1)
	if err := unix.Fsync(d.fd); err != nil {
		return &fs.PathError{Op: "fsync", Path: d.path, Err: err}
	}
	noteDirSynced(d.path)
	return nil
}

// openStepwise opens the directory rel beneath root one component at a
// time, with O_NOFOLLOW at each: a symbolic link anywhere fails with an
// error wrapping ErrSymlink that names it.
func openStepwise(root dir, rel string) (dir, error) {
	cur, owned := root, false
	for _, name := range components(rel) {
		sub, err := cur.openSub(name)
		if owned {
			cur.close()
		}
		if err != nil {
			return noDir, err
		}
		cur, owned = sub, true
	}
	if !owned {
		// rel is the root itself: a descriptor of its own for the caller.
		fd, err := unix.Openat(root.fd, ".", dirFlags, 0)
		if err != nil {
			return noDir, &fs.PathError{Op: "open", Path: root.path, Err: err}
		}
		return dir{fd: fd, path: root.path}, nil
	}
	return cur, nil
}

// openSub opens the directory name in d without following a symbolic link.
func (d dir) openSub(name string) (dir, error) {
	p := fullPath(d.path, name)
	for {
		fd, err := unix.Openat(d.fd, name, dirFlags|unix.O_NOFOLLOW, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return noDir, d.openError("open", name, err)
		}
		return dir{fd: fd, path: p}, nil
	}
}

// openError describes the failure err of opening name in d without
// following links, telling a symbolic link (ELOOP on Linux, EMLINK on
// FreeBSD, ENOTDIR with O_DIRECTORY elsewhere) apart from the rest.
func (d dir) openError(op, name string, err error) error {
	p := fullPath(d.path, name)
	if err == unix.ELOOP || err == unix.EMLINK || err == unix.ENOTDIR {
		var st unix.Stat_t
		if unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return &fs.PathError{Op: op, Path: p, Err: ErrSymlink}
		}
	}
	return &fs.PathError{Op: op, Path: p, Err: err}
}

// mkdirOpen creates the directory name in d (mode 0700) unless it exists,
// flushes d so that the entry is durable (also when another made it and
// may not have flushed it yet), and opens it without following a link.
// made reports whether this call created it, also when an error follows.
func (d dir) mkdirOpen(name string) (sub dir, made bool, err error) {
	switch err := unix.Mkdirat(d.fd, name, 0o700); err {
	case nil:
		made = true
	case unix.EEXIST:
	default:
		return noDir, false, &fs.PathError{Op: "mkdir", Path: fullPath(d.path, name), Err: err}
	}
	if err := d.sync(); err != nil {
		return noDir, made, err
	}
	sub, err = d.openSub(name)
	return sub, made, err
}

// createExcl creates the file name in d for writing, failing if anything
// (a file, a link) is there already.
func (d dir) createExcl(name string) (*os.File, error) {
	p := fullPath(d.path, name)
	for {
		fd, err := unix.Openat(d.fd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: p, Err: err}
		}
		return os.NewFile(uintptr(fd), p), nil
	}
}

// linkAt gives the file name in from the same name in to.
func linkAt(from dir, name string, to dir) error {
	if err := unix.Linkat(from.fd, name, to.fd, name, 0); err != nil {
		return &os.LinkError{Op: "link", Old: fullPath(from.path, name), New: fullPath(to.path, name), Err: err}
	}
	return nil
}

// remove removes the file name from d.
func (d dir) remove(name string) error {
	if err := unix.Unlinkat(d.fd, name, 0); err != nil {
		return &fs.PathError{Op: "remove", Path: fullPath(d.path, name), Err: err}
	}
	return nil
}

// rmdir removes the directory name from d if it is empty.
func (d dir) rmdir(name string) error {
	if err := unix.Unlinkat(d.fd, name, unix.AT_REMOVEDIR); err != nil {
		return &fs.PathError{Op: "rmdir", Path: fullPath(d.path, name), Err: err}
	}
	return nil
}
