package queue

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

// kickPoll is how often a running queue looks at its kick file, where the
// operations of other processes list the messages they changed.
const kickPoll = time.Second

// Run runs the deliveries of the queued messages with r until ctx is
// done, then cancels the tries in flight, starts no other, and returns
// nil once they have returned. A cancelled try does not count: its
// delivery is tried again (on the next Run) with the same Attempt.ID and
// Number.
//
// Run starts a message's due deliveries as soon as it is committed or due,
// up to Options.Workers messages at once, and once a second takes in the
// changes that other processes made through an Admin.
func (q *Queue) Run(ctx context.Context, r Runner) error {
	q.mu.Lock()
	switch {
	case q.closed:
		q.mu.Unlock()
		return ErrClosed
	case q.active:
		q.mu.Unlock()
		return ErrRunning
	}
	q.active = true
	q.mu.Unlock()

	runCtx, cancel := context.WithCancel(ctx)
	var jobs sync.WaitGroup
	stopFlush, flushed := make(chan struct{}), make(chan struct{})
	go q.flushLoop(stopFlush, flushed)
	defer func() {
		cancel()
		jobs.Wait()
		close(stopFlush)
		<-flushed
		q.mu.Lock()
		q.active = false
		q.mu.Unlock()
	}()
	poll := time.NewTicker(q.poll)
	defer poll.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()

	for {
		q.mu.Lock()
		now := q.now().UnixNano()
		var wait time.Duration = -1
		// A job that ends after ctx makes its message due again and wakes
		// this loop: that wake must not start a try that is cut off at
		// once (the Runner would be called for nothing).
		for ctx.Err() == nil && (q.opts.Workers < 0 || q.running < q.opts.Workers) {
			e, ok := q.sched.first()
			if !ok {
				break
			}
			if e.due > now {
				wait = time.Duration(e.due - now)
				break
			}
			q.sched.take(e)
			q.running++
			jobs.Go(func() { q.job(runCtx, r, e.id) })
		}
		q.mu.Unlock()
		if q.pass != nil {
			q.pass()
		}

		var timerC <-chan time.Time
		if wait >= 0 {
			timer.Reset(wait)
			timerC = timer.C
		}
		select {
		case <-ctx.Done():
			return nil
		case <-q.wakeC:
		case <-timerC:
		case <-poll.C:
			q.readKicks()
		}
	}
}

// job runs the due deliveries of message id and schedules what is left.
func (q *Queue) job(ctx context.Context, r Runner, id uint64) {
	name := formatID(id)
	f, err := openLocked(filepath.Join(q.queueSync.dir, name))
	var next time.Time
	gone := false
	switch {
	case errors.Is(err, fs.ErrNotExist):
		gone = true // deleted, or moved to the dead letters, by an operator
	case err == errBusy:
		next = q.now().Add(kickPoll) // an operator is changing it; a kick follows
	case err != nil:
		q.opts.Logger.Error("queue: opening a message", "id", name, "err", err)
		next = q.now().Add(max(q.opts.MinBackoff, time.Second))
	default:
		next, gone, err = q.runMessage(ctx, r, f, name)
		if err != nil {
			q.opts.Logger.Error("queue: running a message", "id", name, "err", err)
			next = q.now().Add(max(q.opts.MinBackoff, time.Second))
		}
	}
	// The schedule changes before the lock goes, so that an operation
	// waiting for the lock finds the message settled when it reloads it.
	q.mu.Lock()
	q.running--
	if gone {
		q.sched.remove(id)
	} else {
		q.sched.set(id, next.UnixNano())
	}
	q.mu.Unlock()
	if f != nil {
		f.Close()
	}
	q.wake()
	if q.jobDone != nil {
		q.jobDone()
	}
}

// openLocked opens the message file at path and takes its lock without
// waiting, failing with errBusy when another holds it and with an error
// wrapping fs.ErrNotExist when the file is gone from path, also while the
// lock was being taken.
func openLocked(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if err := lock(f); err != nil {
		f.Close()
		return nil, err
	}
	if !samePath(f, path) {
		f.Close()
		return nil, &fs.PathError{Op: "lock", Path: path, Err: fs.ErrNotExist}
	}
	return f, nil
}

// samePath reports whether the open file f is still the file at path.
func samePath(f *os.File, path string) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	pi, err := os.Stat(path)
	return err == nil && os.SameFile(fi, pi)
}

// runMessage runs the due deliveries of the message in the locked file f
// at once, records their results, and then finishes the message, moves it
// to the dead letters, or returns when it is next due.
//
// The results are recorded together, once every try has returned: one
// write instead of one per delivery, and none at all when the message is
// done, whose removal (flushed) is then its record. A delivery that was
// done while another still ran is run again if a crash comes first: it
// was not yet confirmed.
func (q *Queue) runMessage(ctx context.Context, r Runner, f *os.File, name string) (next time.Time, gone bool, err error) {
	h, off, size, err := readHeader(f)
	if err != nil {
		return next, false, err
	}
	st, err := loadState(q.queueSync.dir, name, h)
	if err != nil {
		return next, false, err
	}
	now := q.now()
	var (
		attempts = make([]*Attempt, len(st.Deliveries)) // the tries that ran to their end
		results  = make([]error, len(st.Deliveries))
		took     = make([]time.Duration, len(st.Deliveries))
		wg       sync.WaitGroup
	)
	for i, d := range st.Deliveries {
		if d.State != Pending || d.Next.After(now) {
			continue
		}
		if ctx.Err() != nil {
			break // Run has ended: no try starts
		}
		a := &Attempt{Delivery: h.Deliveries[i], ID: attemptID(name, i), Number: d.Tries + 1, Final: q.final(d, st.Since, now)}
		m := &Message{ID: name, Envelope: h.Envelope, Body: io.NewSectionReader(f, off, size)}
		wg.Go(func() {
			start := time.Now()
			err := try(ctx, r, m, a)
			if err != nil && ctx.Err() != nil {
				return // cut off by Run's end: it does not count
			}
			attempts[i], results[i], took[i] = a, err, time.Since(start)
		})
	}
	wg.Wait()

	flush := false // a delivery became done or dead: its record must be flushed
	ran := false
	for i, a := range attempts {
		if a == nil {
			continue
		}
		ran = true
		d := &st.Deliveries[i]
		flush = q.record(d, st.Since, results[i], a.Final) || flush
		q.log(name, a, d, results[i])
		q.opts.Observer.ObserveTry(a.Action, took[i], d.State)
	}
	if next, pending := st.due(); !ran && pending {
		return next, false, nil // nothing was due, or Run ended
	}
	done := func() {
		if q.durable == nil {
			return
		}
		for i, a := range attempts {
			if a != nil && st.Deliveries[i].State == Done {
				q.durable(a.ID)
			}
		}
	}

	if next, pending := st.due(); pending {
		var sync func(string) error
		if flush {
			sync = q.syncDir
		}
		if err := writeState(q.root, queueDir, name, st, sync, q.noSync); err != nil {
			return next, false, err
		}
		done()
		return next, false, nil
	}
	if st.anyDead() {
		// toDead moves the state file and flushes both folders.
		if err := writeState(q.root, queueDir, name, st, nil, q.noSync); err != nil {
			return next, false, err
		}
		if err := q.toDead(name, h, st); err != nil {
			return next, false, err
		}
		done()
		return next, true, nil
	}
	var doneIDs []string
	for i, a := range attempts {
		if a != nil && st.Deliveries[i].State == Done {
			doneIDs = append(doneIDs, a.ID)
		}
	}
	if err := q.finish(name, doneIDs); err != nil {
		return next, false, err
	}
	q.opts.Logger.Debug("queue: message done", "id", name)
	return next, true, nil
}

// try runs one attempt, turning a panic into a failure.
func try(ctx context.Context, r Runner, m *Message, a *Attempt) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("queue: the runner panicked: %v", p)
		}
	}()
	return r.Run(ctx, m, a)
}

// final reports whether a try of d at now is its last (Options.Final).
func (q *Queue) final(d deliveryState, since, now time.Time) bool {
	return q.opts.Final(d.Failures, since, now)
}

// record notes the result err of a try of d, whose message's lifetime
// began at since, and reports whether it made d done or dead, a change to
// flush before going on; Options.Retry says which.
func (q *Queue) record(d *deliveryState, since time.Time, err error, final bool) bool {
	d.Tries++
	if err == nil {
		d.State, d.Next, d.Error = Done, time.Time{}, ""
		return true
	}
	d.Error = err.Error()
	if !IsPermanent(err) {
		d.Failures++
	}
	next, dead, reason := q.opts.Retry(err, d.Tries, d.Failures, since, q.now(), final)
	if dead {
		d.State, d.Next, d.Error = Dead, time.Time{}, reason
		return true
	}
	d.Next = next
	return false
}

// log records a try: done (at debug level), failed, or dead.
func (q *Queue) log(name string, a *Attempt, d *deliveryState, err error) {
	switch {
	case d.State == Done:
		q.opts.Logger.Debug("queue: delivered", "id", name, "attempt", a.ID, "action", a.Action, "try", a.Number)
	case d.State == Dead:
		q.opts.Logger.Warn("queue: delivery is dead", "id", name, "attempt", a.ID, "action", a.Action, "tries", d.Tries, "reason", d.Error)
	case err != nil:
		q.opts.Logger.Info("queue: try failed", "id", name, "attempt", a.ID, "action", a.Action, "try", a.Number, "next", d.Next, "err", err)
	}
}

// syncDir flushes queue/ or dead/, sharing the flush with others.
func (q *Queue) syncDir(dir string) error {
	if dir == deadDir {
		return q.deadSync.sync()
	}
	return q.queueSync.sync()
}

// finish removes a message whose deliveries are all done: the removal is
// the done record of its last deliveries, doneIDs. The message goes first,
// so that a crash in between leaves a state file alone, which Open
// removes, rather than a message without its done records.
//
// A removal is final once made, whatever becomes of the process (a kill
// -9 cannot undo it), but only a flush of queue/ keeps it through a power
// loss. That flush is shared: flushLoop makes it within flushDelay, unless
// an Add's flush, which covers the removals made before it began, comes
// first; so a drain under load costs few flushes of its own. A message
// brought back by a power loss is delivered again, under the same
// Attempt.IDs.
func (q *Queue) finish(name string, doneIDs []string) error {
	if err := os.Remove(filepath.Join(q.queueSync.dir, name)); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(q.queueSync.dir, name+stateExt)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	t := q.queueSync.ticket()
	q.doneMu.Lock()
	q.doneTicket = t
	q.doneIDs = append(q.doneIDs, doneIDs...)
	q.doneMu.Unlock()
	select {
	case q.doneC <- struct{}{}:
	default:
	}
	return nil
}

// flushDelay is how long the removal of a finished message may wait for a
// flush of queue/ shared with the Adds and removals that follow it.
const flushDelay = 20 * time.Millisecond

// flushLoop flushes the removals of finished messages, flushDelay after
// the first one not yet flushed, until stop is closed; then it flushes
// what is left and closes flushed.
func (q *Queue) flushLoop(stop <-chan struct{}, flushed chan<- struct{}) {
	defer close(flushed)
	defer q.flushDone()
	timer := time.NewTimer(flushDelay)
	timer.Stop()
	for {
		select {
		case <-stop:
			return
		case <-q.doneC:
		}
		timer.Reset(flushDelay)
		select {
		case <-stop:
			return
		case <-timer.C:
		}
		q.flushDone()
	}
}

// flushDone makes the removals of finished messages durable: it returns
// once a flush of queue/ that began after the latest one has returned (an
// Add's, or its own), and then reports their done attempts to the durable
// hook of the tests.
func (q *Queue) flushDone() {
	q.doneMu.Lock()
	t, ids := q.doneTicket, q.doneIDs
	q.doneTicket, q.doneIDs = 0, nil
	q.doneMu.Unlock()
	if t == 0 {
		return
	}
	if !q.noSync {
		if err := q.queueSync.wait(t); err != nil {
			// The removals stand; a power loss before the next flush
			// may bring their messages back, to be delivered again.
			q.opts.Logger.Error("queue: flushing the removal of finished messages", "dir", q.queueSync.dir, "err", err)
			return
		}
	}
	if q.durable != nil {
		for _, id := range ids {
			q.durable(id)
		}
	}
}

// toDead moves a message whose deliveries are all done or dead to the dead
// letters: its state file first, then the message, then flushes both
// directories.
func (q *Queue) toDead(name string, h *header, st *state) error {
	for _, p := range []string{name + stateExt, name} {
		if err := os.Rename(filepath.Join(q.queueSync.dir, p), filepath.Join(q.deadSync.dir, p)); err != nil {
			return err
		}
	}
	if !q.noSync {
		if err := q.deadSync.sync(); err != nil {
			return err
		}
		if err := q.queueSync.sync(); err != nil {
			return err
		}
	}
	var reasons []string
	for i, d := range st.Deliveries {
		if d.State == Dead {
			reasons = append(reasons, fmt.Sprintf("%s (%s): %s", attemptID(name, i), h.Deliveries[i].Action, d.Error))
		}
	}
	q.opts.Logger.Warn("queue: message moved to the dead letters", "id", name, "from", h.Envelope.From, "dead", reasons)
	return nil
}

// reload brings the schedule's entry of message id in line with the disk,
// after an operation changed the message. A running message is left
// alone: its job reads the disk after the operation.
func (q *Queue) reload(id uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if due, ok := q.sched.state(id); ok && due == dueRunning {
		return
	}
	name := formatID(id)
	if _, err := os.Stat(filepath.Join(q.queueSync.dir, name)); err != nil {
		q.sched.remove(id)
		return
	}
	q.sawID(id)
	due := q.now().UnixNano()
	if d, ok := q.dueOnDisk(id); ok {
		due = d
	}
	q.sched.set(id, due)
}

// reloadAll brings the whole schedule in line with the disk.
func (q *Queue) reloadAll() {
	queued, _, err := scan(q.queueSync.dir)
	if err != nil {
		q.opts.Logger.Error("queue: rescanning", "err", err)
		return
	}
	q.mu.Lock()
	var gone []uint64
	for _, e := range q.sched.byID {
		if e.due != dueRemoved && !queued[e.id] {
			gone = append(gone, e.id)
		}
	}
	q.mu.Unlock()
	for _, id := range gone {
		q.reload(id)
	}
	for id := range queued {
		q.reload(id)
	}
}
