package postgres

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
)

var discard = slog.New(slog.DiscardHandler)

// MigrateTo migrates the database at url to version, as Open does to the
// latest, without opening a Store.
func MigrateTo(ctx context.Context, url string, version int32) error {
	s := &Store{log: discard}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return err
	}
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.pool.Close()
	return s.migrateTo(ctx, version)
}

// Pool returns the Store's pool, for tests that look at its connections.
func Pool(s *Store) *pgxpool.Pool { return s.pool }

// PruneEvery is how many deliveries of messages with a key make one prune
// of the keys older than the window.
const PruneEvery = pruneEvery
