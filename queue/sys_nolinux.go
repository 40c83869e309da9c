//go:build !linux

package queue

import "os"

// datasync flushes f.
func datasync(f *os.File) error { return f.Sync() }

// renameNoReplace renames from to to, failing with an error wrapping
// fs.ErrExist rather than replacing a file there.
func renameNoReplace(from, to string) error { return linkRename(from, to) }

// createUnnamed fails: files without a name (O_TMPFILE) are Linux's.
func createUnnamed(dir string) (*os.File, error) { return nil, errUnnamed }

// linkUnnamed is not called where createUnnamed always fails.
func linkUnnamed(f *os.File, path string) error { return errUnnamed }
