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
)

// target is one folder a message goes to, beneath the root of a delivery:
// a Maildir (its mailbox) or a Maildir++ folder inside one. Paths are
// relative to the root and slash-separated; "." is the root itself.
type target struct {
	domain  string // the directory holding mailbox, for Mailboxes; "" for a Maildir
	mailbox string // the Maildir
	folder  string // mailbox, or its Junk folder
}

// writer holds the settings of a delivery.
type writer struct {
	host     string
	now      func() time.Time
	named    bool // a named file in tmp/, never O_TMPFILE
	stepwise bool // open directories a component at a time, never openat2
	solo     bool // fsync new/ once per delivery, sharing none; for benchmarks
}

// bufPool holds the buffers that messages are copied through.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// delivery is the state of one writer.deliver.
type delivery struct {
	writer
	rootPath string
	root     dir
	name     string          // the message's file name
	file     *os.File        // the message, until it is closed
	tmp      dir             // the first target's tmp/, when the file has a name there
	tmpName  string          // the file's name in tmp, "" once renamed away or when it has none
	linked   []dir           // the new/ directories the message is linked into
	made     map[string]bool // relative paths of what this delivery created
	held     []string        // its keys in inUse
}

// deliver writes the message once, into the first target's tmp/, and links
// it into the new/ of every target, then waits until all those directories
// are flushed. Either every target has the message and nil is returned, or
// none has it, and the directories the delivery created are gone again.
func (w writer) deliver(ctx context.Context, rootPath string, targets []target, r io.Reader) (err error) {
	first := targets[0]
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: delivery to %s not started: %w", fullPath(rootPath, first.folder), err)
	}
	host := defaultHost()
	if w.host != "" {
		host = safeHost(w.host)
	}
	now := time.Now
	if w.now != nil {
		now = w.now
	}

	root, err := openRootMaking(rootPath)
	if err != nil {
		return fmt.Errorf("store: delivery to %s: %w", fullPath(rootPath, first.folder), err)
	}
	d := &delivery{writer: w, rootPath: rootPath, root: root, name: uniqueName(now(), host), tmp: noDir}
	d.held = holdDirs(rootPath, targets)
	defer func() {
		if err != nil {
			d.undo(targets)
		}
		d.close()
		releaseDirs(d.held)
	}()

	if err := d.create(first); err != nil {
		return fmt.Errorf("store: delivery to %s: %w", fullPath(rootPath, first.folder), err)
	}
	where := d.file.Name()
	if d.tmpName == "" {
		where += " (O_TMPFILE)"
	}
	if err := copyMessage(ctx, d.file, r); err != nil {
		return fmt.Errorf("store: writing %s: %w", where, err)
	}
	if err := fdatasync(d.file); err != nil {
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
		nd, err := d.link(t, i == len(targets)-1)
		if err != nil {
			return fmt.Errorf("store: delivery to %s: %w", fullPath(rootPath, t.folder), err)
		}
		syncers = noteSyncer(syncers, nd)
	}
	f := d.file
	d.file = nil
	if err := f.Close(); err != nil {
		return fmt.Errorf("store: closing message file: %w", err)
	}
	for _, s := range syncers {
		sync := func() error { return s.sync(s.t, s.d.sync) }
		if w.solo {
			sync = s.d.sync
		}
		if err := sync(); err != nil {
			return fmt.Errorf("store: flushing directory %s: %w", s.dir, err)
		}
	}
	return nil
}

// openRootMaking opens the root at path, creating it and its missing
// parents first when it is not there.
func openRootMaking(path string) (dir, error) {
	root, err := openRoot(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err = mkdirDurable(path, 0); err == nil {
			root, err = openRoot(path)
		}
	}
	return root, err
}

// create opens the file the message is written to, in t's tmp/, creating
// the folders when they are missing.
func (d *delivery) create(t target) error {
	rel := relJoin(t.folder, "tmp")
	try := func() error {
		if !d.named {
			f, err := openTmpfile(d.root, rel, d.stepwise)
			if err != errUnnamed {
				if err == nil {
					d.file = f
				}
				return err
			}
		}
		tmp, err := openBeneath(d.root, rel, d.stepwise)
		if err != nil {
			return err
		}
		f, err := tmp.createExcl(d.name)
		if err != nil {
			tmp.close()
			return err
		}
		d.tmp, d.file, d.tmpName = tmp, f, d.name
		return nil
	}
	err := try()
	if errors.Is(err, fs.ErrNotExist) {
		if err = d.ensure(t); err == nil {
			err = try()
		}
	}
	return err
}

// link gives the message its name in t's new/ (moving the named file there
// when last) and returns new/, open, creating the folders when they are
// missing.
func (d *delivery) link(t target, last bool) (dir, error) {
	rel := relJoin(t.folder, "new")
	try := func() (dir, error) {
		nd, err := openBeneath(d.root, rel, d.stepwise)
		if err != nil {
			return noDir, err
		}
		switch {
		case d.tmpName == "":
			err = linkUnnamed(d.file, nd, d.name)
		case last:
			err = renameNoReplace(d.tmp, d.name, nd)
		default:
			err = linkAt(d.tmp, d.name, nd)
		}
		if err != nil {
			nd.close()
			return noDir, err
		}
		return nd, nil
	}
	nd, err := try()
	if errors.Is(err, fs.ErrNotExist) {
		if err = d.ensure(t); err == nil {
			nd, err = try()
		}
	}
	if err != nil {
		return noDir, err
	}
	d.linked = append(d.linked, nd)
	if last {
		d.tmpName = "" // renamed away, if it had a name
	}
	return nd, nil
}

// close closes what the delivery holds open.
func (d *delivery) close() {
	if d.file != nil {
		d.file.Close()
		d.file = nil
	}
	for _, nd := range d.linked {
		nd.close()
	}
	d.tmp.close()
	d.root.close()
}

// syncTicket is a directory to flush and the ticket of the entry made in it.
type syncTicket struct {
	*dirSyncer
	t uint64
	d dir
}

// noteSyncer takes a ticket from the syncer of d, just after an entry was
// made there, and adds it to list (replacing the older ticket of the same
// directory: the newer covers both).
func noteSyncer(list []syncTicket, d dir) []syncTicket {
	for i, s := range list {
		if s.dir == d.path {
			list[i].t = s.ticket()
			return list
		}
	}
	s := acquireSyncer(d.path)
	return append(list, syncTicket{s, s.ticket(), d})
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

// mkdirDurable creates dir (mode 0700) and its missing parents, and fsyncs
// the parent of each so that the new entries survive a crash. It is for
// the root, whose path is the operator's; beneath it, folders are made by
// delivery.ensure.
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
