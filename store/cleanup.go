package store

import (
	"path"
	"sync"
)

// Taking back what a failed delivery made.
//
// A delivery that fails removes its links in new/, its file in tmp/, and
// the directories (and the maildirfolder marker) that it created itself,
// and nothing else. Removal goes folder by folder, new/ first: if new/
// cannot be removed, someone delivered there meanwhile, and the folder and
// everything holding it stay. Only empty directories are ever removed
// (rmdir), and within this process none that another delivery is working
// in (inUse). Across processes sharing the root, a delivery that finds a
// folder gone between its steps creates it again (as it does any missing
// folder), so a removal can cost another process a retry, never a message.

// inUse counts, for each mailbox and domain directory (by full path), the
// deliveries of this process working in it.
var inUse = struct {
	mu   sync.Mutex
	refs map[string]int
}{refs: make(map[string]int)}

// holdDirs notes that a delivery works in the mailboxes, and the domain
// directories, of targets, and returns the keys to give to releaseDirs.
func holdDirs(root string, targets []target) []string {
	keys := make([]string, 0, 2*len(targets))
	add := func(k string) {
		for _, have := range keys {
			if have == k {
				return
			}
		}
		keys = append(keys, k)
	}
	for _, t := range targets {
		add(fullPath(root, t.mailbox))
		if t.domain != "" {
			add(fullPath(root, t.domain))
		}
	}
	inUse.mu.Lock()
	for _, k := range keys {
		inUse.refs[k]++
	}
	inUse.mu.Unlock()
	return keys
}

// releaseDirs ends what holdDirs began.
func releaseDirs(keys []string) {
	inUse.mu.Lock()
	for _, k := range keys {
		if inUse.refs[k]--; inUse.refs[k] <= 0 {
			delete(inUse.refs, k)
		}
	}
	inUse.mu.Unlock()
}

// undo takes back what the failed delivery did; see above.
func (d *delivery) undo(targets []target) {
	if d.file != nil {
		d.file.Close()
		d.file = nil
	}
	for _, nd := range d.linked {
		nd.remove(d.name)
	}
	if d.tmpName != "" {
		d.tmp.remove(d.tmpName)
		d.tmpName = ""
	}
	if len(d.made) == 0 {
		return
	}
	// Under the lock, no delivery of this process can start to use a
	// directory between the check that none does and its removal.
	inUse.mu.Lock()
	defer inUse.mu.Unlock()
	for _, t := range targets {
		if inUse.refs[fullPath(d.rootPath, t.mailbox)] > 1 {
			continue
		}
		if t.folder != t.mailbox && !d.removeFolder(t.folder) {
			continue
		}
		d.removeFolder(t.mailbox)
	}
	for _, t := range targets {
		if t.domain != "" && d.made[t.domain] && inUse.refs[fullPath(d.rootPath, t.domain)] <= 1 {
			d.removeMade(t.domain, true)
		}
	}
}

// removeFolder removes what the delivery made of the Maildir folder rel,
// new/ first, and reports whether nothing of it was kept.
func (d *delivery) removeFolder(rel string) bool {
	for _, sub := range [...]string{"new", "tmp", "cur", "maildirfolder"} {
		p := relJoin(rel, sub)
		if d.made[p] && !d.removeMade(p, sub != "maildirfolder") {
			return false
		}
	}
	if rel == "." || !d.made[rel] {
		return true
	}
	return d.removeMade(rel, true)
}

// removeMade removes rel (a directory, if it is empty, or a file) through
// its parent opened beneath the root, and reports whether it is gone.
func (d *delivery) removeMade(rel string, isDir bool) bool {
	parent, err := openBeneath(d.root, path.Dir(rel), d.stepwise)
	if err != nil {
		return false
	}
	defer parent.close()
	if isDir {
		err = parent.rmdir(path.Base(rel))
	} else {
		err = parent.remove(path.Base(rel))
	}
	delete(d.made, rel)
	return err == nil || isNotExist(err)
}
