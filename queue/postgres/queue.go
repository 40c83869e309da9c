package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

// versionTable is the table where tern keeps the version of the queue's
// schema: the queue's own, so that other users of the database keep
// theirs.
const versionTable = "ownmx_queue_schema_version"

// channel is the channel of the notifications that wake idle workers
// (LISTEN/NOTIFY): Add and the operations that make deliveries due send
// one.
const channel = "ownmx_queue"

//go:embed schema/*.sql
var schemaFiles embed.FS

// Queue is a durable queue of messages in a PostgreSQL database, shared
// by the Queues of several hosts: Add commits a message once, Run runs
// its deliveries until each is done or dead, and Admin returns the
// operator's operations on it. A Queue is safe for concurrent use.
type Queue struct {
	pool *pgxpool.Pool
	opts Options

	mu      sync.Mutex
	running int  // tries holding a worker
	active  bool // Run is running
	closed  bool
	wakeC   chan struct{} // a token asks Run to look for due deliveries

	notifyC      chan struct{} // a token asks the notifier for a notification
	stopNotifier chan struct{} // closed by Close
	notifierDone chan struct{} // closed when the notifier has returned

	// For tests: recorded is called once a try's result was recorded
	// (ok) or found its lease taken (!ok); released once the lease of a
	// try cut off by Run's end was given back; waiting each time Run is
	// about to wait, with the number of tries running; listening once
	// Run's connection listens, before Run is woken for what it may have
	// missed.
	recorded  func(attemptID string, ok bool)
	released  func(attemptID string)
	waiting   func(running int)
	listening func()
}

// Open connects to the database at url (a PostgreSQL URL or DSN, as
// pgxpool.ParseConfig reads it, whose pool_ settings apply; see
// Options.MaxConns),
// brings the queue's tables to the current version under tern's advisory
// lock, and returns the queue. Several Queues, in several processes on
// several hosts, may have the same database open: each delivery is tried
// by one of them at a time.
func Open(ctx context.Context, url string, opts *Options) (*Queue, error) {
	o, err := withDefaults(opts)
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("queue/postgres: reading the database URL: %w", err)
	}
	switch {
	case o.MaxConns > 0:
		cfg.MaxConns = int32(min(o.MaxConns, math.MaxInt32))
	case !hasPoolMaxConns(url):
		cfg.MaxConns = DefaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("queue/postgres: %w", err)
	}
	if err := migrateSchema(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	q := &Queue{
		pool: pool, opts: o, wakeC: make(chan struct{}, 1),
		notifyC: make(chan struct{}, 1), stopNotifier: make(chan struct{}), notifierDone: make(chan struct{}),
	}
	go func() {
		defer close(q.notifierDone)
		q.notifier(q.stopNotifier)
	}()
	return q, nil
}

// hasPoolMaxConns reports whether the URL or DSN url sets pool_max_conns,
// which pgxpool.ParseConfig reads but does not tell apart from its
// default.
func hasPoolMaxConns(url string) bool { return strings.Contains(url, "pool_max_conns") }

// migrateSchema brings the queue's tables to the current version.
func migrateSchema(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("queue/postgres: connecting: %w", err)
	}
	defer conn.Release()
	m, err := migrate.NewMigrator(ctx, conn.Conn(), versionTable)
	if err != nil {
		return fmt.Errorf("queue/postgres: reading the schema's version: %w", err)
	}
	files, err := fs.Sub(schemaFiles, "schema")
	if err != nil {
		return fmt.Errorf("queue/postgres: %w", err)
	}
	if err := m.LoadMigrations(files); err != nil {
		return fmt.Errorf("queue/postgres: loading the schema: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("queue/postgres: migrating the schema: %w", err)
	}
	return nil
}

// Close closes the queue's connections. Call it after Run has returned;
// Add and Run fail with queue.ErrClosed afterwards.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	q.mu.Unlock()
	close(q.stopNotifier)
	<-q.notifierDone
	q.pool.Close()
	return nil
}

// isClosed reports whether Close was called.
func (q *Queue) isClosed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

// now returns the time, to the microsecond that PostgreSQL keeps.
func (q *Queue) now() time.Time { return q.opts.Now().Truncate(time.Microsecond) }

// wake asks Run to look for due deliveries.
func (q *Queue) wake() {
	select {
	case q.wakeC <- struct{}{}:
	default:
	}
}
