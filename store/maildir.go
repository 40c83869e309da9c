package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ownmx/ownmx/smtpd"
)

// Junk is the Maildir++ folder, inside a Maildir, that receives the messages
// whose Envelope.Quarantine is set. Dovecot and other IMAP servers show it
// as the folder "Junk".
const Junk = ".Junk"

// Maildir is a Store that delivers every message into one Maildir, or into
// its Junk folder when the envelope says to quarantine it.
//
// Deliver creates Dir and the folders it needs (mode 0700) when missing,
// writes the message to a file in tmp/ (on Linux, a file with no name yet:
// O_TMPFILE), flushes it, links it into new/ under a unique name and flushes
// new/ before returning nil. A failed or cancelled delivery leaves no file
// behind, in tmp/ or in new/. The message is streamed, never held in memory.
// ctx is obeyed until the message is complete on disk; once it is linked
// into new/, Deliver waits for the flush whatever ctx says.
//
// Maildir needs no setup beyond Dir and is safe for concurrent use, within a
// process and across processes sharing the directory.
type Maildir struct {
	// Dir is the Maildir: the directory that holds (or will hold) tmp/, new/
	// and cur/. Required.
	Dir string
	// Hostname ends every file name, as the spec asks. Default: the
	// machine's host name.
	Hostname string
	// Now gives the time for file names. Default: time.Now.
	Now func() time.Time

	// named makes every delivery use a named file in tmp/, as on systems
	// without O_TMPFILE. For tests and benchmarks.
	named bool
}

// Deliver stores the message read from r in m.Dir/new, or in
// m.Dir/.Junk/new when env.Quarantine is set.
func (m *Maildir) Deliver(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
	if m.Dir == "" {
		return errors.New("store: Maildir.Dir is empty")
	}
	t := target{maildir: m.Dir, folder: m.Dir}
	if env != nil && env.Quarantine {
		t.folder = filepath.Join(m.Dir, Junk)
	}
	w := writer{host: m.Hostname, now: m.Now, named: m.named}
	return w.deliver(ctx, []target{t}, r)
}

// target is one folder a message goes to: maildir itself, or a Maildir++
// folder inside it.
type target struct {
	maildir string
	folder  string
}

// writer holds the settings of a delivery.
type writer struct {
	host  string
	now   func() time.Time
	named bool
	solo  bool // fsync new/ once per delivery, sharing none; for benchmarks
}

// bufPool holds the buffers that messages are copied through.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// deliver writes the message once, into the first target's tmp/, and links
// it into the new/ of every target, then waits until all those directories
// are flushed. Either every target has the message and nil is returned, or
// none has it.
func (w writer) deliver(ctx context.Context, targets []target, r io.Reader) (err error) {
	first := targets[0]
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: delivery to %s not started: %w", first.folder, err)
	}
	host := defaultHost()
	if w.host != "" {
		host = safeHost(w.host)
	}
	now := time.Now
	if w.now != nil {
		now = w.now
	}
	name := uniqueName(now(), host)

	f, tmpPath, err := w.create(first, name)
	if err != nil {
		return fmt.Errorf("store: delivery to %s: %w", first.folder, err)
	}
	closed := false
	var made []string // paths in new/ to remove if the delivery fails
	defer func() {
		if err == nil {
			return
		}
		if !closed {
			f.Close()
		}
		if tmpPath != "" {
			os.Remove(tmpPath)
		}
		for _, p := range made {
			os.Remove(p)
		}
	}()

	where := tmpPath
	if where == "" {
		where = filepath.Join(first.folder, "tmp") + " (O_TMPFILE)"
	}
	if err := copyMessage(ctx, f, r); err != nil {
		return fmt.Errorf("store: writing %s: %w", where, err)
	}
	if err := fdatasync(f); err != nil {
		return fmt.Errorf("store: flushing message: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: writing %s: %w", where, err)
	}

	// From here on the delivery is committed: ctx is no longer consulted,
	// since a message already linked into new/ must be waited for.
	syncers := make([]syncTicket, 0, len(targets))
	defer func() {
		for _, s := range syncers {
			s.release()
		}
	}()
	for i, t := range targets {
		newPath := filepath.Join(t.folder, "new", name)
		link := func() error {
			switch {
			case tmpPath == "":
				return linkUnnamed(f, newPath)
			case i == len(targets)-1:
				return renameNoReplace(tmpPath, newPath)
			default:
				return os.Link(tmpPath, newPath)
			}
		}
		err := link()
		if errors.Is(err, fs.ErrNotExist) {
			if err = ensureFolder(t); err == nil {
				err = link()
			}
		}
		if err != nil {
			return fmt.Errorf("store: delivery to %s: %w", t.folder, err)
		}
		if tmpPath != "" && i == len(targets)-1 {
			tmpPath = "" // renamed away
		}
		made = append(made, newPath)
		syncers = noteSyncer(syncers, filepath.Join(t.folder, "new"))
	}
	closed = true
	if err := f.Close(); err != nil {
		return fmt.Errorf("store: closing message file: %w", err)
	}
	for _, s := range syncers {
		sync := func() error { return s.sync(s.t) }
		if w.solo {
			sync = func() error { return syncDir(s.dir) }
		}
		if err := sync(); err != nil {
			return fmt.Errorf("store: flushing directory %s: %w", s.dir, err)
		}
	}
	return nil
}

// syncTicket is a directory to flush and the ticket of the entry made in it.
type syncTicket struct {
	*dirSyncer
	t uint64
}

// noteSyncer takes a ticket from the syncer of dir, just after an entry was
// made there, and adds it to list (replacing the older ticket of the same
// directory: the newer covers both).
func noteSyncer(list []syncTicket, dir string) []syncTicket {
	for i, s := range list {
		if s.dir == dir {
			list[i].t = s.ticket()
			return list
		}
	}
	s := acquireSyncer(dir)
	return append(list, syncTicket{s, s.ticket()})
}

// create opens the file the message is written to, in t.folder/tmp, creating
// the folders when they are missing. tmpPath is "" for an unnamed file.
func (w writer) create(t target, name string) (f *os.File, tmpPath string, err error) {
	tmpDir := filepath.Join(t.folder, "tmp")
	open := func() (*os.File, string, error) {
		if !w.named {
			f, err := openUnnamed(tmpDir)
			if err != errUnnamed {
				return f, "", err
			}
		}
		p := filepath.Join(tmpDir, name)
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		return f, p, err
	}
	f, tmpPath, err = open()
	if errors.Is(err, fs.ErrNotExist) {
		if err = ensureFolder(t); err == nil {
			f, tmpPath, err = open()
		}
	}
	return f, tmpPath, err
}

// errUnnamed says that files without a name (O_TMPFILE) are not available.
var errUnnamed = errors.New("store: O_TMPFILE not supported")

// copyMessage copies r to f, checking ctx between reads. It fills its
// buffer before each write, so a message that comes in pieces (a header
// rewritten by the auth glue, then the body) is written in one call up to
// the buffer's size.
func copyMessage(ctx context.Context, f *os.File, r io.Reader) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	n, empty := 0, 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		k, rerr := r.Read(buf[n:])
		n += k
		if k > 0 {
			empty = 0
		} else if rerr == nil {
			// A reader that keeps returning nothing would loop forever.
			if empty++; empty > 100 {
				return io.ErrNoProgress
			}
		}
		if n > 0 && (n == len(buf) || rerr == io.EOF) {
			if _, err := f.Write(buf[:n]); err != nil {
				return err
			}
			n = 0
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("reading message: %w", rerr)
		}
	}
}

// ensureFolder creates t's Maildir and, for a Maildir++ folder, the folder
// with its maildirfolder marker, making each new directory entry durable
// before the message that will depend on it is written.
func ensureFolder(t target) error {
	if err := ensureMaildir(t.maildir); err != nil {
		return err
	}
	if t.folder == t.maildir {
		return nil
	}
	if err := mkdirDurable(t.folder, 0); err != nil {
		return err
	}
	marker := filepath.Join(t.folder, "maildirfolder")
	if _, err := os.Stat(marker); errors.Is(err, fs.ErrNotExist) {
		mf, err := os.OpenFile(marker, os.O_WRONLY|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		if err := mf.Close(); err != nil {
			return err
		}
		if err := syncDir(t.folder); err != nil {
			return err
		}
	}
	return ensureMaildir(t.folder)
}

// ensureMaildir creates dir and its cur/, new/ and tmp/, in that order, so
// that a tmp/ found on disk implies the others.
func ensureMaildir(dir string) error {
	if err := mkdirDurable(dir, 0); err != nil {
		return err
	}
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := mkdirDurable(filepath.Join(dir, sub), 0); err != nil {
			return err
		}
	}
	return nil
}

// mkdirDurable creates dir (mode 0700) and its missing parents, and fsyncs
// the parent of each so that the new entries survive a crash.
func mkdirDurable(dir string, depth int) error {
	err := os.Mkdir(dir, 0o700)
	if errors.Is(err, fs.ErrNotExist) && depth < 64 {
		if err = mkdirDurable(filepath.Dir(dir), depth+1); err == nil {
			err = os.Mkdir(dir, 0o700)
		}
	}
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrExist):
		// Made by someone else, maybe not yet flushed: flush it too.
		fi, serr := os.Stat(dir)
		if serr != nil {
			return serr
		}
		if !fi.IsDir() {
			return &fs.PathError{Op: "mkdir", Path: dir, Err: errors.New("exists and is not a directory")}
		}
	default:
		return err
	}
	return syncDir(filepath.Dir(dir))
}
