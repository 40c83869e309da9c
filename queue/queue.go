package queue

import (
	"context"
	"io"
	"log/slog"
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
	// DefaultWorkers is how many deliveries run at once.
	DefaultWorkers = 64
)

// Options tune a Queue; nil means the defaults.
type Options struct {
	// Lifetime is how long after its message was committed (or replayed)
	// a delivery is tried before it goes to the dead letters. Zero means
	// DefaultLifetime.
	Lifetime time.Duration
	// MinBackoff and MaxBackoff bound the wait between tries, which
	// doubles from one try to the next, with jitter. Zero means
	// DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// Workers is how many deliveries run at once. Zero means
	// DefaultWorkers.
	Workers int
	// Now gives the time. Default: time.Now.
	Now func() time.Time
	// Logger receives a record for each failed try and each dead letter.
	// Default: slog.Default().
	Logger *slog.Logger
}

// Queue is a durable queue of messages in a directory: Add commits a
// message once, and Run runs its deliveries until each is done or dead.
type Queue struct {
	dir  string
	opts Options
}

// Open opens (creating it if needed) the queue in dir, finishing what a
// crash left half-done.
func Open(dir string, opts *Options) (*Queue, error) {
	panic("queue: Open not implemented yet")
}

// Add commits a message with its deliveries and returns its ID once it is
// on disk (file and directory flushed): the caller may then answer 250.
// On error nothing is left behind.
func (q *Queue) Add(ctx context.Context, env *Envelope, deliveries []Delivery, body io.Reader) (string, error) {
	panic("queue: Add not implemented yet")
}

// Run runs the deliveries of the queued messages with r until ctx is
// done, then waits for the tries in flight (their context is cancelled;
// they are tried again on the next Run).
func (q *Queue) Run(ctx context.Context, r Runner) error {
	panic("queue: Run not implemented yet")
}

// Close releases the queue's files.
func (q *Queue) Close() error {
	panic("queue: Close not implemented yet")
}
