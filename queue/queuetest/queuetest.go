// Package queuetest checks that a queue keeps the contract of package
// queue: a committed message's deliveries run until each is done or dead,
// under Attempt.IDs that never change, with backoff, a lifetime, dead
// letters and the operator's operations.
//
// Run is a suite in the manner of testing/fstest.TestFS and
// testing/slogtest.Run: each queue's own tests call it with a function
// that opens a new, empty queue, as they do for the local queue.Queue and
// for queue/postgres.
package queuetest

import (
	"context"
	"io"

	"github.com/ownmx/ownmx/queue"
)

// Queue is what the suite drives of a queue: *queue.Queue and
// *postgres.Queue have it.
type Queue interface {
	// Add commits a message with its deliveries and returns its ID.
	Add(ctx context.Context, env *queue.Envelope, deliveries []queue.Delivery, body io.Reader) (string, error)
	// Run runs the deliveries with r until ctx is done.
	Run(ctx context.Context, r queue.Runner) error
	// Close releases the queue, after Run has returned.
	Close() error
}

// Admin is the operator's operations on a queue, as queue.Admin has them
// but with a context for each: *postgres.Admin has them, and LocalAdmin
// adapts a *queue.Admin.
type Admin interface {
	// List describes the waiting messages, oldest first.
	List(ctx context.Context) ([]queue.Info, error)
	// Dead describes the dead letters, oldest first.
	Dead(ctx context.Context) ([]queue.Info, error)
	// Count counts the waiting messages and the dead letters.
	Count(ctx context.Context) (queue.Counts, error)
	// Retry makes the pending deliveries of the waiting message id due now.
	Retry(ctx context.Context, id string) error
	// RetryAll makes the pending deliveries of every waiting message due now.
	RetryAll(ctx context.Context) error
	// Replay puts the dead letter id back in the queue.
	Replay(ctx context.Context, id string) error
	// Delete removes the message id, waiting or dead.
	Delete(ctx context.Context, id string) error
}

// Q is a queue with its operator's operations, which the suite drives.
// With makes one of a queue and its Admin; Local, of a local queue.
type Q interface {
	Queue
	Admin
}

// With returns the Q made of q and its operations a.
func With(q Queue, a Admin) Q {
	return struct {
		Queue
		Admin
	}{q, a}
}

// Local returns the Q of the local queue q.
func Local(q *queue.Queue) Q { return With(q, LocalAdmin(q.Admin())) }

// LocalAdmin adapts the operations of a local queue to Admin: List, Dead
// and Count, which read files, take no context there.
func LocalAdmin(a *queue.Admin) Admin { return localAdmin{a} }

type localAdmin struct{ *queue.Admin }

func (a localAdmin) List(context.Context) ([]queue.Info, error)  { return a.Admin.List() }
func (a localAdmin) Dead(context.Context) ([]queue.Info, error)  { return a.Admin.Dead() }
func (a localAdmin) Count(context.Context) (queue.Counts, error) { return a.Admin.Count() }
