//go:build !linux

package store

import "os"

// Without Linux's O_TMPFILE and renameat2, a message is written under a
// name in tmp/ and moved into new/ by link and unlink.

// openTmpfile is Linux's O_TMPFILE; here every message gets a name in tmp/.
func openTmpfile(root dir, rel string, stepwise bool) (*os.File, error) { return nil, errUnnamed }

// linkUnnamed is not reached where openTmpfile always fails.
func linkUnnamed(f *os.File, to dir, name string) error { return errUnnamed }

// renameNoReplace moves the file name from from to to without replacing a
// file there: link, then unlink, as the maildir spec says.
func renameNoReplace(from dir, name string, to dir) error {
	if err := linkAt(from, name, to); err != nil {
		return err
	}
	return from.remove(name)
}

// fdatasync flushes f to stable storage.
func fdatasync(f *os.File) error { return f.Sync() }
