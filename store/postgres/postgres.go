package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/store"
)

// Defaults of Options.
const (
	// DefaultDedupWindow is the default of Options.DedupWindow: a sender
	// retries for up to five days (RFC 5321 §4.5.4.1 suggests at least
	// four), and the window outlasts that.
	DefaultDedupWindow = 7 * 24 * time.Hour
	// DefaultAcquireTimeout is the default of Options.AcquireTimeout.
	DefaultAcquireTimeout = 30 * time.Second
)

// ChunkSize is the most bytes of a message that one row of mail_chunks
// holds, and so the most that Deliver or a reader of Store.Open holds of it
// at once.
const ChunkSize = 256 << 10

// Folders of a mailbox.
const (
	// Inbox is the folder of the messages delivered.
	Inbox = "INBOX"
	// Junk is the folder of the messages whose envelope says to quarantine
	// them (smtpd.Envelope.Quarantine).
	Junk = "Junk"
)

// Errors of the reading side.
var (
	// ErrNotFound is the error, wrapped, of an entry ID that names no
	// entry (never delivered, or deleted).
	ErrNotFound = errors.New("postgres: no such message")
	// ErrUnknownFolder is the error, wrapped, of a folder other than Inbox
	// and Junk.
	ErrUnknownFolder = errors.New("postgres: unknown folder (INBOX or Junk)")
)

// Options configure a Store. A nil *Options means every default.
type Options struct {
	// Domains lists the domains accepted, such as "example.com"; nil
	// accepts every domain whose name is safe. As for store.Mailboxes.
	Domains []string
	// Users lists the local parts that have a mailbox, such as "me"; nil
	// accepts every safe local part (a catch-all, with no bound on the
	// mailboxes that strangers make by sending mail: set Users on a server
	// that faces the Internet). postmaster is accepted either way.
	Users []string

	// DedupWindow is how long a stored message's key (Message-ID and body
	// SHA-256) makes a later copy a duplicate. Zero means
	// DefaultDedupWindow (7 days); negative means no deduplication.
	DedupWindow time.Duration
	// AcquireTimeout bounds the wait for a connection (a free one from the
	// pool, or a new one) in each call, besides ctx: a server's context
	// often has no deadline. Zero means DefaultAcquireTimeout (30 s);
	// negative means only ctx bounds it.
	AcquireTimeout time.Duration
	// MaxConns is the most connections the Store opens, and so the most
	// deliveries under way at once. Zero or negative means the URL's
	// pool_max_conns, or pgxpool's default (4, or the number of CPUs if
	// more).
	MaxConns int32

	// Logger receives a record for each duplicate delivery and each
	// migration applied. Default: slog.Default().
	Logger *slog.Logger
	// Now gives the time of delivery. Default: time.Now.
	Now func() time.Time
}

// Store is a store.Store in PostgreSQL, with the reading side of a mail
// client (List, Open, MarkSeen, Move, Delete) and the smtpd.RcptHandler
// that refuses the recipients it has no mailbox for. It is safe for
// concurrent use, and any number of Stores, in one process or on many
// hosts, may share one database.
type Store struct {
	pool           *pgxpool.Pool
	router         *store.Mailboxes // maps addresses to mailboxes; never delivers
	dedupWindow    time.Duration
	acquireTimeout time.Duration
	log            *slog.Logger
	now            func() time.Time
	deliveries     atomic.Uint64 // deliveries with a key, counted for pruneEvery
}

// Open connects to the database at url (a PostgreSQL URL or key=value
// string, as pgx reads it), applies the migrations it lacks, and returns
// the Store. It fails if the database cannot be reached within ctx or
// AcquireTimeout, or if the options are invalid.
func Open(ctx context.Context, url string, opts *Options) (*Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	s := &Store{
		dedupWindow:    limit(opts.DedupWindow, DefaultDedupWindow),
		acquireTimeout: limit(opts.AcquireTimeout, DefaultAcquireTimeout),
		log:            opts.Logger,
		now:            opts.Now,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.setRouter(opts.Domains, opts.Users); err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: the database URL: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	cfg.AfterConnect = durableCommits
	// No ping before handing out a connection idle for a second, pgxpool's
	// default: every use of a connection here (withConn, begin) tries once
	// more on a new one when the first turns out dead, which costs nothing
	// while connections live, where a ping costs a round trip.
	cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: opening the pool for %s: %w", cfg.ConnConfig.Host, err)
	}
	if err := s.Migrate(ctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	return s, nil
}

// Close waits for the calls under way to end, then closes every
// connection of the Store; later calls fail.
func (s *Store) Close() { s.pool.Close() }

// limit returns v, or def when v is zero, or 0 (none) when v is negative.
func limit(v, def time.Duration) time.Duration {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// durableCommits makes the commits of conn wait for the write-ahead log to
// be flushed: a server or database may turn synchronous_commit off, which
// would let a crash lose mail that was answered 250. Other values (local,
// remote_write, on, remote_apply) flush locally and are kept.
func durableCommits(ctx context.Context, conn *pgx.Conn) error {
	_, err := conn.Exec(ctx, `SELECT set_config('synchronous_commit', 'on', false)
		WHERE current_setting('synchronous_commit') = 'off'`)
	if err != nil {
		return fmt.Errorf("postgres: making commits durable (synchronous_commit): %w", err)
	}
	return nil
}

// acquire returns a connection from the pool, waiting at most
// AcquireTimeout besides ctx.
func (s *Store) acquire(ctx context.Context) (*pgxpool.Conn, error) {
	if s.acquireTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.acquireTimeout)
		defer cancel()
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("waiting for a database connection: %w", err)
	}
	return conn, nil
}

// withConn calls f with a connection from the pool. f must be idempotent:
// when it fails on a connection the server closed since it was last used
// (the server restarted), every idle connection of the pool is likely
// dead too, so the pool is reset and f called once more on a new one.
func (s *Store) withConn(ctx context.Context, f func(*pgxpool.Conn) error) error {
	for try := 0; ; try++ {
		conn, err := s.acquire(ctx)
		if err != nil {
			return err
		}
		err = f(conn)
		dead := err != nil && conn.Conn().IsClosed()
		conn.Release()
		if !dead || try > 0 || ctx.Err() != nil {
			return err
		}
		s.pool.Reset()
	}
}

// begin acquires a connection and begins a transaction on it, replacing a
// dead connection as withConn does: BEGIN is the first thing sent on it.
func (s *Store) begin(ctx context.Context) (*pgxpool.Conn, pgx.Tx, error) {
	for try := 0; ; try++ {
		conn, err := s.acquire(ctx)
		if err != nil {
			return nil, nil, err
		}
		tx, err := conn.Begin(ctx)
		if err == nil {
			return conn, tx, nil
		}
		dead := conn.Conn().IsClosed()
		conn.Release()
		if !dead || try > 0 || ctx.Err() != nil {
			return nil, nil, fmt.Errorf("beginning a transaction: %w", err)
		}
		s.pool.Reset()
	}
}

// rollback rolls tx back, even when ctx is done: a connection in a failed
// transaction goes back to the pool clean, or is closed.
func rollback(ctx context.Context, tx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = tx.Rollback(ctx) // on failure pgx closes the connection, which discards the transaction
}

// The types of this package satisfy the interfaces they are meant for.
var (
	_ store.Store       = (*Store)(nil)
	_ smtpd.RcptHandler = (*Store)(nil)
	_ io.ReadCloser     = (*messageReader)(nil)
)
