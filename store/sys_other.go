//go:build !linux

package store

import "os"

// openUnnamed is Linux's O_TMPFILE; elsewhere every message gets a name in tmp/.
func openUnnamed(dir string) (*os.File, error) { return nil, errUnnamed }

// linkUnnamed is not reached where openUnnamed always fails.
func linkUnnamed(f *os.File, newPath string) error { return errUnnamed }

// renameNoReplace moves oldPath to newPath without replacing a file there:
// link, then unlink, as the maildir spec says.
func renameNoReplace(oldPath, newPath string) error {
	if err := os.Link(oldPath, newPath); err != nil {
		return err
	}
	return os.Remove(oldPath)
}

// fdatasync flushes f to stable storage.
func fdatasync(f *os.File) error { return f.Sync() }
