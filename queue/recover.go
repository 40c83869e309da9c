package queue

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Recovery.
//
// Where a message's file is says where the message is; its state file
// follows it. The moves keep that readable after a crash at any step:
//
//   - to the dead letters: state file to dead/, then message file;
//   - replay: new state file into queue/, message file to queue/, then the
//     old state file in dead/ removed;
//   - finish or delete: message file removed, then its state file.
//
// So Open finds at most these half-done states, and finishes (or undoes)
// them: a state file in dead/ whose message is still in queue/ with no
// state there (a move to the dead letters: the message follows); a state
// file in both with the message in dead/ (a replay that had not moved the
// message: the new state goes); a message in queue/ with states in both (a
// replay that had: the old state goes); a state file with no message
// (a finish or delete: it goes).

// recover finishes what a crash left half-done, and fills the schedule
// from queue/.
func (q *Queue) recover() error {
	root := q.root
	tmp := filepath.Join(root, tmpDir)
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	for _, e := range ents {
		if err := os.Remove(filepath.Join(tmp, e.Name())); err != nil {
			return fmt.Errorf("queue: removing a half-written file: %w", err)
		}
	}

	queued, qstates, err := scan(q.queueSync.dir)
	if err != nil {
		return err
	}
	dead, dstates, err := scan(q.deadSync.dir)
	if err != nil {
		return err
	}
	qpath := func(name string) string { return filepath.Join(q.queueSync.dir, name) }
	dpath := func(name string) string { return filepath.Join(q.deadSync.dir, name) }
	changed := false
	for id := range dstates {
		name := formatID(id)
		var err error
		switch {
		case dead[id] && qstates[id]: // replay, before the message moved
			err = os.Remove(qpath(name + stateExt))
			delete(qstates, id)
		case dead[id]:
			continue
		case queued[id] && qstates[id]: // replay, after the message moved
			err = os.Remove(dpath(name + stateExt))
		case queued[id]: // to the dead letters, before the message moved
			err = os.Rename(qpath(name), dpath(name))
			delete(queued, id)
			dead[id] = true
		default: // delete, after the message went
			err = os.Remove(dpath(name + stateExt))
		}
		if err != nil {
			return fmt.Errorf("queue: recovering %s: %w", name, err)
		}
		changed = true
	}
	for id := range qstates {
		if !queued[id] { // finish or delete, after the message went
			if err := os.Remove(qpath(formatID(id) + stateExt)); err != nil {
				return fmt.Errorf("queue: recovering %s: %w", formatID(id), err)
			}
		}
	}
	if changed {
		if err := syncDir(q.deadSync.dir); err != nil {
			return fmt.Errorf("queue: %w", err)
		}
		if err := syncDir(q.queueSync.dir); err != nil {
			return fmt.Errorf("queue: %w", err)
		}
	}
	// Pending kicks are answered by the scan below.
	if err := os.Truncate(filepath.Join(root, kickFile), 0); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("queue: %w", err)
	}

	for id := range dead {
		q.sawID(id)
	}
	ids := make([]uint64, 0, len(queued))
	for id := range queued {
		ids = append(ids, id)
	}
	q.sched.byID = make([]entry, 0, len(ids)+len(ids)/8+16)
	q.sched.heap = make([]entry, 0, len(ids)+len(ids)/8+16)
	now := q.now().UnixNano()
	for _, id := range ids {
		q.sawID(id)
		due := now
		if qstates[id] {
			if d, ok := q.dueOnDisk(id); ok {
				due = d
			}
		}
		q.sched.set(id, due)
	}
	return nil
}

// dueOnDisk reads when message id in queue/ is next due, from its state
// file; false when it cannot tell (it is then due now).
func (q *Queue) dueOnDisk(id uint64) (int64, bool) {
	st, err := readState(q.queueSync.dir, formatID(id))
	if err != nil || st == nil {
		return 0, false
	}
	if next, ok := st.due(); ok && !next.IsZero() {
		return next.UnixNano(), true
	}
	return 0, false
}

// scan lists the message files and the state files in dir; it ignores
// names it does not know.
func scan(dir string) (msgs, states map[uint64]bool, err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("queue: %w", err)
	}
	defer f.Close()
	msgs, states = map[uint64]bool{}, map[uint64]bool{}
	for {
		names, err := f.Readdirnames(4096)
		for _, n := range names {
			if id, ok := parseID(n); ok {
				msgs[id] = true
			} else if id, ok := parseID(strings.TrimSuffix(n, stateExt)); ok && strings.HasSuffix(n, stateExt) {
				states[id] = true
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return msgs, states, nil
			}
			return nil, nil, fmt.Errorf("queue: %w", err)
		}
	}
}
