package store

import (
	"errors"
	"io/fs"
	"path"
	"path/filepath"
	"strings"
)

// Opening beneath the root.
//
// A delivery opens its root (Maildir.Dir or Mailboxes.Root) once, following
// symbolic links there, since where the mail lives is the operator's choice
// (/var/mail may point at /srv/mail). Everything beneath it, the domain and
// mailbox directories, tmp/, new/, cur/ and .Junk, is opened relative to
// the root's descriptor without following a symbolic link: on Linux with
// openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS), one call for the whole
// path; elsewhere, or where openat2 is missing (ENOSYS) or refused (EPERM,
// as some seccomp filters do), one openat(O_NOFOLLOW|O_DIRECTORY) per
// component. Files are then created, linked, renamed and removed relative
// to the descriptors of the directories so opened, so that nothing that
// changes on disk meanwhile (a directory swapped for a link to /etc) can
// send a message, or a removal, outside the root.
//
// The type dir and the functions on it are in dir_unix.go (descriptors)
// and dir_other.go (paths checked with Lstat, for systems without openat).

// ErrSymlink is the error, wrapped in an *fs.PathError naming the link, of
// a delivery that met a symbolic link beneath its root: a domain, mailbox
// or Maildir folder that is a link is never followed, wherever it points.
var ErrSymlink = errors.New("store: symbolic link beneath the mail root, not followed")

// relJoin joins slash-separated relative paths beneath a root; "." is the
// root itself.
func relJoin(elem ...string) string { return path.Join(elem...) }

// fullPath returns the path of rel beneath the root at root, for messages
// and as a key.
func fullPath(root, rel string) string {
	if rel == "." || rel == "" {
		return root
	}
	return filepath.Join(root, filepath.FromSlash(rel))
}

// components splits rel into its names; "." has none.
func components(rel string) []string {
	if rel == "." || rel == "" {
		return nil
	}
	return strings.Split(rel, "/")
}

// isNotExist reports whether err says that something is missing.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
