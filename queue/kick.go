package queue

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Kicks.
//
// An operation from another process changes a message's files under the
// message's lock, then appends the message's ID (or "*" for all) to the
// file kick in the queue's directory, under that file's own lock. A running
// queue looks at the file's size once a second; when it is not empty, it
// reads and empties it under the lock and reloads just the messages
// listed.

// allKick is the kick that asks for every message to be reloaded.
const allKick = "*"

// kick appends ids to the kick file of the queue in root.
func kick(root string, ids ...string) error {
	f, err := os.OpenFile(filepath.Join(root, kickFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("queue: telling the running queue: %w", err)
	}
	defer f.Close()
	if err := lockWait(f); err != nil {
		return fmt.Errorf("queue: telling the running queue: %w", err)
	}
	var b bytes.Buffer
	for _, id := range ids {
		b.WriteString(id)
		b.WriteByte('\n')
	}
	if _, err := f.Write(b.Bytes()); err != nil {
		return fmt.Errorf("queue: telling the running queue: %w", err)
	}
	return nil
}

// readKicks reloads the messages listed in the kick file, and empties it.
func (q *Queue) readKicks() {
	path := filepath.Join(q.root, kickFile)
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		return
	}
	ids, all, err := takeKicks(path)
	if err != nil {
		q.opts.Logger.Error("queue: reading the kick file", "err", err)
		return
	}
	if all {
		q.reloadAll()
	} else {
		for _, id := range ids {
			q.reload(id)
		}
	}
	q.wake()
	if q.kicked != nil {
		q.kicked()
	}
}

// takeKicks reads and empties the kick file at path.
func takeKicks(path string) (ids []uint64, all bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	if err := lockWait(f); err != nil {
		return nil, false, err
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if sc.Text() == allKick {
			all = true
		} else if id, ok := parseID(sc.Text()); ok {
			ids = append(ids, id)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, false, err
	}
	return ids, all, f.Truncate(0)
}
