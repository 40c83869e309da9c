package postgres

import (
	"fmt"
	"os"
	"time"

	"github.com/ownmx/ownmx/queue"
)

// Defaults of the Options fields left at zero, beside those of
// queue.Options (queue.DefaultLifetime and the others).
const (
	// DefaultLease is how long a worker holds a delivery it took: a try
	// that outlasts it is cancelled, and a worker whose host died is
	// replaced once it ends.
	DefaultLease = 5 * time.Minute
	// DefaultPoll is how often a running queue looks for due deliveries
	// when nothing woke it: for the notifications missed while its
	// listening connection was down, and for the deliveries that other
	// hosts' tries and leases made due.
	DefaultPoll = time.Second
	// DefaultMaxConns is how many connections a Queue's pool opens at
	// most when neither Options.MaxConns nor the URL's pool_max_conns
	// says: enough for the Adds of as many SMTP sessions to share their
	// commits' flushes (PostgreSQL flushes the commits that wait together
	// at once), where pgxpool's own default (4, or the number of CPUs)
	// made 10 concurrent Adds three times slower.
	DefaultMaxConns = 16
)

// Options tune a Queue; nil means the defaults.
type Options struct {
	// Options holds the fields that mean what they mean for the local
	// queue (queue.Options): Lifetime, MinBackoff, MaxBackoff, Now and
	// Logger. Workers is how many deliveries this Queue tries at once
	// (zero means queue.DefaultWorkers, negative means no limit); each
	// Queue sharing the database has its own.
	queue.Options
	// Lease is how long a worker holds a delivery it took before another
	// may take it: it bounds a try, which is cancelled when its lease
	// ends, and it is how long a delivery taken by a host that died waits
	// before another host tries it again. The hosts' clocks must agree
	// within a small part of it. Zero means DefaultLease; negative is an
	// error.
	Lease time.Duration
	// Poll is how often a running queue looks for due deliveries without
	// being woken. Zero means DefaultPoll; negative means never (a queue
	// then relies on notifications and on its own schedule).
	Poll time.Duration
	// MaxConns is how many connections the Queue's pool opens at most,
	// besides the one each running Queue listens on. Zero means the URL's
	// pool_max_conns, or DefaultMaxConns without it; negative is an error.
	MaxConns int
	// Name names this Queue's workers in the leases they hold and in
	// logs. Default: the host's name and the process ID.
	Name string
}

// withDefaults returns opts with every field left at zero set to its
// default.
func withDefaults(opts *Options) (Options, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.Options = o.Options.WithDefaults()
	switch {
	case o.Lease == 0:
		o.Lease = DefaultLease
	case o.Lease < 0:
		return o, fmt.Errorf("queue/postgres: Lease %v is negative", o.Lease)
	}
	if o.MaxConns < 0 {
		return o, fmt.Errorf("queue/postgres: MaxConns %d is negative", o.MaxConns)
	}
	if o.Poll == 0 {
		o.Poll = DefaultPoll
	}
	if o.Name == "" {
		host, err := os.Hostname()
		if err != nil {
			host = "localhost"
		}
		o.Name = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	return o, nil
}
