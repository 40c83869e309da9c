package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Admin holds the operator's operations on a queue (those of Postfix's
// mailq, postqueue and postsuper): list the waiting messages and the dead
// letters, retry now, replay a dead letter, delete.
//
// An Admin from Queue.Admin works in the process that has the queue open,
// whether it runs or not, and the queue sees each change at once. One from
// OpenAdmin works from any process, also while another process runs the
// queue: each operation changes a message's files under the message's
// lock (which a try also holds, so an operation on a message being run
// waits for its try to end) and then tells the running queue, which takes
// the change in within about a second.
type Admin struct {
	root   string
	now    func() time.Time
	notify func(ids ...string) error
}

// OpenAdmin returns the operations on the queue in dir, for a process
// other than the one that has it open (or while none has). It creates
// nothing: dir must hold a queue.
func OpenAdmin(dir string) (*Admin, error) {
	for _, d := range []string{queueDir, deadDir, tmpDir} {
		if fi, err := os.Stat(filepath.Join(dir, d)); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("queue: %s holds no queue (no %s/)", dir, d)
		}
	}
	return &Admin{root: dir, now: time.Now, notify: func(ids ...string) error { return kick(dir, ids...) }}, nil
}

// Admin returns the operations on q.
func (q *Queue) Admin() *Admin {
	return &Admin{root: q.root, now: q.now, notify: func(ids ...string) error {
		if slices.Contains(ids, allKick) {
			q.reloadAll()
		} else {
			for _, s := range ids {
				if id, ok := parseID(s); ok {
					q.reload(id)
				}
			}
		}
		q.wake()
		return nil
	}}
}

// Info describes a queued message or a dead letter.
type Info struct {
	// ID is the message's ID.
	ID string
	// Received is when the message was accepted.
	Received time.Time
	// From is the MAIL FROM address, "" for the null sender.
	From string
	// Rcpt holds the SMTP transaction's recipients.
	Rcpt []string
	// Size is the message's size in bytes.
	Size int64
	// Since is when the message's lifetime began: its commit or its last
	// replay.
	Since time.Time
	// Deliveries holds where each delivery stands.
	Deliveries []DeliveryInfo
}

// DeliveryInfo describes where one delivery of a message stands.
type DeliveryInfo struct {
	Delivery
	// AttemptID is the Attempt.ID of the delivery's tries.
	AttemptID string
	// State is pending, done or dead.
	State State
	// Tries counts the tries that ended.
	Tries int
	// Next is the earliest time of the next try of a pending delivery;
	// zero means as soon as possible.
	Next time.Time
	// Error is the last failure's text, or why the delivery is dead.
	Error string
}

// Counts says how many messages a queue holds.
type Counts struct {
	// Waiting counts the messages with a delivery still pending, those
	// being tried included.
	Waiting int
	// Dead counts the dead letters.
	Dead int
}

// Count counts the waiting messages and the dead letters from the names of
// their files, without reading them, for a metrics scrape or a health
// check.
func (a *Admin) Count() (Counts, error) {
	var c Counts
	var err error
	if c.Waiting, err = countMessages(filepath.Join(a.root, queueDir)); err != nil {
		return Counts{}, err
	}
	if c.Dead, err = countMessages(filepath.Join(a.root, deadDir)); err != nil {
		return Counts{}, err
	}
	return c, nil
}

// countMessages counts the message files in dir (not their state files).
func countMessages(dir string) (int, error) {
	f, err := os.Open(dir)
	if err != nil {
		return 0, fmt.Errorf("queue: counting messages: %w", err)
	}
	defer f.Close()
	n := 0
	for {
		names, err := f.Readdirnames(4096)
		for _, name := range names {
			if _, ok := parseID(name); ok {
				n++
			}
		}
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return 0, fmt.Errorf("queue: counting messages in %s: %w", dir, err)
		}
	}
}

// List describes the waiting messages, oldest first. It reads the files
// without locks: a message being moved meanwhile may be missing.
func (a *Admin) List() ([]Info, error) { return a.list(queueDir) }

// Dead describes the dead letters, oldest first, each with its dead
// deliveries' reasons.
func (a *Admin) Dead() ([]Info, error) { return a.list(deadDir) }

// list describes the messages in dir.
func (a *Admin) list(dir string) ([]Info, error) {
	msgs, _, err := scan(filepath.Join(a.root, dir))
	if err != nil {
		return nil, err
	}
	ids := make([]uint64, 0, len(msgs))
	for id := range msgs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	infos := make([]Info, 0, len(ids))
	for _, id := range ids {
		info, err := a.info(dir, formatID(id))
		if errors.Is(err, fs.ErrNotExist) {
			continue // finished or moved since the scan
		}
		if err != nil {
			return nil, err
		}
		infos = append(infos, info)
	}
	return infos, nil
}

// info describes message name in dir.
func (a *Admin) info(dir, name string) (Info, error) {
	f, err := os.Open(filepath.Join(a.root, dir, name))
	if err != nil {
		return Info{}, err
	}
	defer f.Close()
	h, _, size, err := readHeader(f)
	if err != nil {
		return Info{}, err
	}
	st, err := loadState(filepath.Join(a.root, dir), name, h)
	if err != nil {
		return Info{}, err
	}
	info := Info{ID: name, Received: h.Envelope.Received, From: h.Envelope.From, Rcpt: h.Envelope.Rcpt, Size: size, Since: st.Since}
	for i, d := range st.Deliveries {
		info.Deliveries = append(info.Deliveries, DeliveryInfo{
			Delivery: h.Deliveries[i], AttemptID: attemptID(name, i),
			State: d.State, Tries: d.Tries, Next: d.Next, Error: d.Error,
		})
	}
	return info, nil
}

// Retry makes the pending deliveries of the waiting message id due now.
// It fails with ErrNotFound when id is not waiting (a dead letter needs
// Replay).
func (a *Admin) Retry(ctx context.Context, id string) error {
	if err := a.retry(ctx, id); err != nil {
		return err
	}
	return a.notify(id)
}

// RetryAll makes the pending deliveries of every waiting message due now.
func (a *Admin) RetryAll(ctx context.Context) error {
	msgs, _, err := scan(filepath.Join(a.root, queueDir))
	if err != nil {
		return err
	}
	for id := range msgs {
		if err := a.retry(ctx, formatID(id)); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return a.notify(allKick)
}

// retry makes the pending deliveries of message id due now.
func (a *Admin) retry(ctx context.Context, id string) error {
	return a.change(ctx, queueDir, id, func(h *header, st *state) error {
		for i := range st.Deliveries {
			if st.Deliveries[i].State == Pending {
				st.Deliveries[i].Next = time.Time{}
			}
		}
		return writeState(a.root, queueDir, id, st, nil, false)
	})
}

// Replay puts the dead letter id back in the queue: its dead deliveries
// are pending again, due now, with their backoff reset and a new lifetime
// from now; their Attempt.ID stays the same. Its done deliveries stay
// done.
func (a *Admin) Replay(ctx context.Context, id string) error {
	err := a.change(ctx, deadDir, id, func(h *header, st *state) error {
		st.Since = a.now()
		for i := range st.Deliveries {
			if d := &st.Deliveries[i]; d.State == Dead {
				d.State, d.Failures, d.Next = Pending, 0, time.Time{}
			}
		}
		// The new state first, then the message, then the old state
		// goes: see recover for why this order.
		if err := writeState(a.root, queueDir, id, st, nil, false); err != nil {
			return err
		}
		if err := os.Rename(filepath.Join(a.root, deadDir, id), filepath.Join(a.root, queueDir, id)); err != nil {
			os.Remove(filepath.Join(a.root, queueDir, id+stateExt))
			return fmt.Errorf("queue: replaying %s: %w", id, err)
		}
		if err := os.Remove(filepath.Join(a.root, deadDir, id+stateExt)); err != nil {
			return fmt.Errorf("queue: replaying %s: %w", id, err)
		}
		return syncDirs(a.root, queueDir, deadDir)
	})
	if err != nil {
		return err
	}
	return a.notify(id)
}

// Delete removes the message id, waiting or dead, for good.
func (a *Admin) Delete(ctx context.Context, id string) error {
	remove := func(dir string) func(*header, *state) error {
		return func(*header, *state) error {
			// The message first: a state file alone is removed by Open.
			if err := os.Remove(filepath.Join(a.root, dir, id)); err != nil {
				return err
			}
			if err := os.Remove(filepath.Join(a.root, dir, id+stateExt)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			return syncDirs(a.root, dir)
		}
	}
	err := a.change(ctx, queueDir, id, remove(queueDir))
	if errors.Is(err, ErrNotFound) {
		return a.change(ctx, deadDir, id, remove(deadDir))
	}
	if err != nil {
		return err
	}
	return a.notify(id)
}

// lockRetry is how often an operation tries again for the lock of a
// message that a try holds.
const lockRetry = 10 * time.Millisecond

// change runs fn on message id in dir, with its header and state, under
// its lock, waiting for the lock while ctx allows.
func (a *Admin) change(ctx context.Context, dir, id string, fn func(*header, *state) error) error {
	if _, ok := parseID(id); !ok {
		return fmt.Errorf("%w: %q is not a message ID", ErrNotFound, id)
	}
	path := filepath.Join(a.root, dir, id)
	for {
		f, err := openLocked(path)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %s in %s", ErrNotFound, id, filepath.Join(a.root, dir))
		}
		if err == errBusy {
			t := time.NewTimer(lockRetry)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("queue: waiting for the lock of %s: %w", id, ctx.Err())
			case <-t.C:
				continue
			}
		}
		if err != nil {
			return fmt.Errorf("queue: %w", err)
		}
		defer f.Close()
		h, _, _, err := readHeader(f)
		if err != nil {
			return err
		}
		st, err := loadState(filepath.Join(a.root, dir), id, h)
		if err != nil {
			return err
		}
		return fn(h, st)
	}
}

// syncDirs flushes the directories dirs of the queue in root.
func syncDirs(root string, dirs ...string) error {
	for _, d := range dirs {
		if err := syncDir(filepath.Join(root, d)); err != nil {
			return fmt.Errorf("queue: flushing %s: %w", d, err)
		}
	}
	return nil
}
