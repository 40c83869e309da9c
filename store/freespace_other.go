//go:build !linux && !darwin && !freebsd

package store

import (
	"errors"
	"io/fs"
)

// statFS is not written for this system.
func statFS(path string) (fsStats, error) {
	return fsStats{}, &fs.PathError{Op: "statfs", Path: path, Err: errors.ErrUnsupported}
}
