//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package store

import (
	"errors"
	"io/fs"
	"os"
)

// dir is a directory known by its path, on systems where this package does
// not use openat. Each component beneath the root is checked with Lstat
// before use, so a link already there is refused; one swapped in between
// the check and the use is not caught, as it is with descriptors.
type dir struct {
	fd   int // unused; -1
	path string
}

// noDir is the zero dir.
var noDir = dir{fd: -1}

// openRoot checks that path is a directory, following symbolic links.
func openRoot(path string) (dir, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return noDir, err
	}
	if !fi.IsDir() {
		return noDir, &fs.PathError{Op: "open", Path: path, Err: errors.New("not a directory")}
	}
	return dir{fd: -1, path: path}, nil
}

func (d dir) close() {}

// sync flushes d, making its entries durable.
func (d dir) sync() error { return syncDir(d.path) }

// openBeneath checks each component of rel beneath root with Lstat.
func openBeneath(root dir, rel string, stepwise bool) (dir, error) {
	return openStepwise(root, rel)
}

// openStepwise is openBeneath.
func openStepwise(root dir, rel string) (dir, error) {
	cur := root
	for _, name := range components(rel) {
		sub, err := cur.openSub(name)
		if err != nil {
			return noDir, err
		}
		cur = sub
	}
	return cur, nil
}

// openSub checks that name in d is a directory and not a link.
func (d dir) openSub(name string) (dir, error) {
	p := fullPath(d.path, name)
	fi, err := os.Lstat(p)
	if err != nil {
		return noDir, err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return noDir, &fs.PathError{Op: "open", Path: p, Err: ErrSymlink}
	}
	if !fi.IsDir() {
		return noDir, &fs.PathError{Op: "open", Path: p, Err: errors.New("not a directory")}
	}
	return dir{fd: -1, path: p}, nil
}

// mkdirOpen creates the directory name in d unless it exists, flushes d
// and checks the result.
func (d dir) mkdirOpen(name string) (sub dir, made bool, err error) {
	p := fullPath(d.path, name)
	switch err := os.Mkdir(p, 0o700); {
	case err == nil:
		made = true
	case errors.Is(err, fs.ErrExist):
	default:
		return noDir, false, err
	}
	if err := d.sync(); err != nil {
		return noDir, made, err
	}
	sub, err = d.openSub(name)
	return sub, made, err
}

// createExcl creates the file name in d for writing, failing if anything
// is there already.
func (d dir) createExcl(name string) (*os.File, error) {
	return os.OpenFile(fullPath(d.path, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
}

// linkAt gives the file name in from the same name in to.
func linkAt(from dir, name string, to dir) error {
	return os.Link(fullPath(from.path, name), fullPath(to.path, name))
}

// remove removes the file name from d.
func (d dir) remove(name string) error { return os.Remove(fullPath(d.path, name)) }

// rmdir removes the directory name from d if it is empty.
func (d dir) rmdir(name string) error { return os.Remove(fullPath(d.path, name)) }
