package queue

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Defaults of the Options fields left at zero.
const (
	// DefaultLifetime is how long a delivery is tried before it goes to
	// the dead letters: five days, as Postfix's maximal_queue_lifetime.
	DefaultLifetime = 5 * 24 * time.Hour
	// DefaultMinBackoff is the wait before the second try of a delivery.
	DefaultMinBackoff = 30 * time.Second
	// DefaultMaxBackoff is the longest wait between two tries.
	DefaultMaxBackoff = time.Hour
	// DefaultWorkers is how many messages are run at once.
	DefaultWorkers = 64
)

// Errors of a queue.
var (
	// ErrLocked is returned by Open when another Queue, in this process or
	// another, has the directory open.
	ErrLocked = errors.New("queue: the directory is in use by another queue")
	// ErrClosed is returned by Add and Run after Close.
	ErrClosed = errors.New("queue: closed")

	// errUnnamed says that files without a name (O_TMPFILE) cannot be
	// made here; Add then writes in tmp/ and renames.
	errUnnamed = errors.New("queue: O_TMPFILE not supported")
	// ErrRunning is returned by Run when the queue is already running.
	ErrRunning = errors.New("queue: already running")
	// ErrNotFound is returned by the operations on one message when the
	// queue has no such message (in the state that the operation needs).
	ErrNotFound = errors.New("queue: no such message")
)

// errBusy is lock's answer when another holds the lock.
var errBusy = errors.New("queue: message is locked")

// Options tune a Queue; nil means the defaults.
type Options struct {
	// Lifetime is how long after its message was committed (or replayed)
	// a delivery is tried before it goes to the dead letters: a failed try
	// whose next try would come later makes it dead. Zero means
	// DefaultLifetime; negative means no limit.
	Lifetime time.Duration
	// MinBackoff and MaxBackoff bound the wait between tries, which
	// doubles from one try to the next, with jitter. Zero means
	// DefaultMinBackoff and DefaultMaxBackoff; negative means no wait.
	MinBackoff, MaxBackoff time.Duration
	// Workers is how many messages are run at once; the due deliveries of
	// one message run in parallel. Zero means DefaultWorkers; negative
	// means no limit.
	Workers int
	// Now gives the time. Default: time.Now.
	Now func() time.Time
	// Logger receives a record for each failed try and each dead letter.
	// Default: slog.Default().
	Logger *slog.Logger
	// Observer, if set, hears of each try, for metrics.
	Observer *Observer
}

// Queue is a durable queue of messages in a directory: Add commits a
// message once, and Run runs its deliveries until each is done or dead.
// Admin returns the operator's operations on it.
//
// One Queue at a time may have a directory open: Open fails with
// ErrLocked while another (in any process) has it. Other processes use
// OpenAdmin to work on it meanwhile. A Queue is safe for concurrent use.
type Queue struct {
	root string
	opts Options
	lock *os.File // root/lock, flocked while open

	queueSync, deadSync dirSyncer

	idMu   sync.Mutex
	lastID uint64

	mu      sync.Mutex
	sched   schedule
	running int  // jobs running
	active  bool // Run is running
	closed  bool
	wakeC   chan struct{} // a token asks Run to look at the schedule again

	// Removals of finished messages not yet flushed (see flushDone).
	doneMu     sync.Mutex
	doneTicket uint64        // the latest removal's ticket of queue/'s flushes
	doneIDs    []string      // their done attempts, for the durable hook
	doneC      chan struct{} // a token: a removal waits for its flush

	// poll is how often Run reads the kick file: kickPoll, but for tests.
	poll time.Duration

	// For tests: noSync skips every fsync; durable is called with an
	// attempt's ID once its done record is on disk; jobDone after each
	// job; pass after each look of Run at the schedule; kicked after
	// the kicks of other processes were taken in; named makes Add write in
	// tmp/ and rename, as where O_TMPFILE is missing.
	named   bool
	noSync  bool
	durable func(attemptID string)
	jobDone func()
	pass    func()
	kicked  func()
}

// Open opens (creating it if needed) the queue in dir, finishing what a
// crash left half-done: files in tmp/ are removed and messages that were
// moving between the queue and the dead letters are moved on. The
// messages waiting in it are due at once, or at the time their last try
// asked for.
func Open(dir string, opts *Options) (*Queue, error) {
	q := &Queue{root: dir, wakeC: make(chan struct{}, 1), doneC: make(chan struct{}, 1), poll: kickPoll}
	q.opts = opts.WithDefaults()
	q.queueSync.dir = filepath.Join(dir, queueDir)
	q.deadSync.dir = filepath.Join(dir, deadDir)

	for _, d := range []string{dir, filepath.Join(dir, tmpDir), q.queueSync.dir, q.deadSync.dir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("queue: %w", err)
		}
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	if err := lock(f); err != nil {
		f.Close()
		if err == errBusy {
			return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
		}
		return nil, fmt.Errorf("queue: locking %s: %w", dir, err)
	}
	q.lock = f
	if err := q.recover(); err != nil {
		f.Close()
		return nil, err
	}
	return q, nil
}

// Close releases the queue's directory. Call it after Run has returned;
// Add and Run fail with ErrClosed afterwards.
func (q *Queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil
	}
	q.closed = true
	q.sched = schedule{}
	return q.lock.Close()
}

// Dir returns the queue's directory.
func (q *Queue) Dir() string { return q.root }

// now returns the time.
func (q *Queue) now() time.Time { return q.opts.Now() }

// newID returns a message ID higher than any this queue has seen.
func (q *Queue) newID() uint64 {
	q.idMu.Lock()
	defer q.idMu.Unlock()
	id := max(uint64(q.now().UnixNano()), q.lastID+1)
	q.lastID = id
	return id
}

// sawID makes IDs from now on higher than id.
func (q *Queue) sawID(id uint64) {
	q.idMu.Lock()
	q.lastID = max(q.lastID, id)
	q.idMu.Unlock()
}

// Add commits a message with its deliveries and returns its ID once it is
// on disk: the message is written to a file in tmp/ with the envelope and
// the deliveries in a header line, the file is flushed, renamed into
// queue/, and queue/ is flushed (an fsync shared with the Adds running at
// the same time). The caller may then answer 250. On error, a cancelled
// ctx included, nothing is left behind. A running queue starts the first
// tries at once.
//
// The message is streamed from body, never held in memory. env.Received
// is set to the time of the commit when it is zero.
func (q *Queue) Add(ctx context.Context, env *Envelope, deliveries []Delivery, body io.Reader) (string, error) {
	if len(deliveries) == 0 {
		return "", errors.New("queue: Add with no delivery")
	}
	q.mu.Lock()
	closed := q.closed
	q.mu.Unlock()
	if closed {
		return "", ErrClosed
	}
	id := q.newID()
	h := header{Committed: idTime(id), Deliveries: deliveries}
	if env != nil {
		h.Envelope = *env
	}
	if h.Envelope.Received.IsZero() {
		h.Envelope.Received = h.Committed
	}
	line, err := json.Marshal(&h)
	if err != nil {
		return "", fmt.Errorf("queue: encoding the envelope: %w", err)
	}
	line = append(line, '\n')

	id, t, err := q.commit(ctx, id, line, body)
	if err != nil {
		return "", err
	}
	name := formatID(id)
	if !q.noSync {
		if err := q.queueSync.wait(t); err != nil {
			os.Remove(filepath.Join(q.queueSync.dir, name))
			return "", fmt.Errorf("queue: committing: flushing %s: %w", q.queueSync.dir, err)
		}
	}
	q.mu.Lock()
	q.sched.set(id, q.now().UnixNano())
	q.mu.Unlock()
	q.wake()
	return name, nil
}

// commit writes the file of message id, header line and body, flushes it
// and gives it its name in queue/, taking the next ID when the name is
// taken (the clock went back past an ID from before the queue was
// opened). It returns the ID it took and the ticket of the directory
// flush to wait for. The file is made without a name where the system can
// (O_TMPFILE), else in tmp/ and renamed; on error nothing is left.
func (q *Queue) commit(ctx context.Context, id uint64, line []byte, body io.Reader) (uint64, uint64, error) {
	name := formatID(id)
	f, err := createUnnamed(q.queueSync.dir)
	if q.named && err == nil {
		f.Close()
		f, err = nil, errUnnamed
	}
	unnamed := err == nil
	tmp := filepath.Join(q.root, tmpDir, name)
	switch {
	case errors.Is(err, errUnnamed):
		f, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return 0, 0, fmt.Errorf("queue: %w", err)
		}
	case err != nil:
		return 0, 0, fmt.Errorf("queue: %w", err)
	}
	discard := func() {
		f.Close()
		if !unnamed {
			os.Remove(tmp)
		}
	}
	if err := q.write(ctx, f, line, body); err != nil {
		discard()
		return 0, 0, err
	}
	for try := 0; ; try++ {
		if unnamed {
			err = linkUnnamed(f, filepath.Join(q.queueSync.dir, name))
		} else {
			err = renameNoReplace(tmp, filepath.Join(q.queueSync.dir, name))
		}
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) || try == 10 {
			discard()
			return 0, 0, fmt.Errorf("queue: committing: %w", err)
		}
		id = q.newID()
		name = formatID(id)
	}
	t := q.queueSync.ticket()
	if err := f.Close(); err != nil {
		os.Remove(filepath.Join(q.queueSync.dir, name))
		return 0, 0, fmt.Errorf("queue: %w", err)
	}
	return id, t, nil
}

// write writes the header line and the message to f and flushes it.
func (q *Queue) write(ctx context.Context, f *os.File, line []byte, body io.Reader) error {
	w := bufio.NewWriterSize(f, 64<<10)
	w.Write(line)
	if _, err := io.Copy(w, ctxReader{ctx, body}); err != nil {
		return fmt.Errorf("queue: reading the message: %w", err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	if !q.noSync {
		if err := datasync(f); err != nil {
			return fmt.Errorf("queue: %w", err)
		}
	}
	return nil
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// wake asks Run to look at the schedule again.
func (q *Queue) wake() {
	select {
	case q.wakeC <- struct{}{}:
	default:
	}
}
