package store

import (
	"errors"
	"io/fs"
	"path"
)

// ensure creates what is missing of t's Maildir and, for a Maildir++
// folder, of the folder and its maildirfolder marker, beneath the root and
// through no symbolic link. Each new entry is made durable before the
// message that will depend on it is written, and noted in d.made so that a
// failed delivery can take it away again.
func (d *delivery) ensure(t target) error {
	box, err := d.mkdirs(t.mailbox)
	if err != nil {
		return err
	}
	defer box.close()
	if err := d.ensureSubdirs(box, t.mailbox); err != nil {
		return err
	}
	if t.folder == t.mailbox {
		return nil
	}
	folder, made, err := box.mkdirOpen(path.Base(t.folder))
	d.note(t.folder, made)
	if err != nil {
		return err
	}
	defer folder.close()
	switch f, err := folder.createExcl("maildirfolder"); {
	case err == nil:
		d.note(relJoin(t.folder, "maildirfolder"), true)
		if err := f.Close(); err != nil {
			return err
		}
		if err := folder.sync(); err != nil {
			return err
		}
	case !errors.Is(err, fs.ErrExist):
		return err
	}
	return d.ensureSubdirs(folder, t.folder)
}

// mkdirs opens the directory rel beneath the root, creating each missing
// component.
func (d *delivery) mkdirs(rel string) (dir, error) {
	cur, owned := d.root, false
	done := "."
	for _, name := range components(rel) {
		sub, made, err := cur.mkdirOpen(name)
		if owned {
			cur.close()
		}
		done = relJoin(done, name)
		d.note(done, made)
		if err != nil {
			return noDir, err
		}
		cur, owned = sub, true
	}
	if !owned {
		return openStepwise(d.root, ".")
	}
	return cur, nil
}

// ensureSubdirs creates the cur/, new/ and tmp/ of the Maildir folder box
// (rel beneath the root), in that order, so that a tmp/ found on disk
// implies the others.
func (d *delivery) ensureSubdirs(box dir, rel string) error {
	for _, sub := range [...]string{"cur", "new", "tmp"} {
		sd, made, err := box.mkdirOpen(sub)
		d.note(relJoin(rel, sub), made)
		if err != nil {
			return err
		}
		sd.close()
	}
	return nil
}

// note records that the delivery made rel, if made.
func (d *delivery) note(rel string, made bool) {
	if !made {
		return
	}
	if d.made == nil {
		d.made = make(map[string]bool)
	}
	d.made[rel] = true
}
