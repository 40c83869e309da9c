package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
)

// migrations holds the schema, one numbered file per version
// (NNN_name.sql, as tern reads them). A released file is never changed: a
// change of schema is a new file.
//
//go:embed migrations/*.sql
var migrations embed.FS

// versionTable is where tern keeps the schema's version.
const versionTable = "mail_schema_version"

// Migrate brings the database's schema to the version this package needs,
// applying the migrations it lacks in order, each in its own transaction.
// It holds a PostgreSQL advisory lock meanwhile (tern's), so that hosts
// that start at once migrate one after the other, and the later ones find
// nothing left to do. Open calls it; calling it again does nothing.
func (s *Store) Migrate(ctx context.Context) error {
	return s.migrateTo(ctx, -1)
}

// migrateTo migrates to version, or to the latest when version is
// negative.
func (s *Store) migrateTo(ctx context.Context, version int32) error {
	// A connection of its own, closed at the end: the advisory lock is
	// held by the session, and a session that ends releases it, even if
	// the unlock could not be sent (ctx cancelled, connection lost). A
	// pooled connection would go back to the pool still holding it.
	connectCtx, cancel := ctx, context.CancelFunc(func() {})
	if s.acquireTimeout > 0 {
		connectCtx, cancel = context.WithTimeout(ctx, s.acquireTimeout)
	}
	conn, err := pgx.ConnectConfig(connectCtx, s.pool.Config().ConnConfig.Copy())
	cancel()
	if err != nil {
		return fmt.Errorf("postgres: connecting to migrate the schema: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	m, err := migrate.NewMigrator(ctx, conn, versionTable)
	if err != nil {
		return fmt.Errorf("postgres: reading the schema version from %s: %w", versionTable, err)
	}
	if err := m.LoadMigrations(migrationFiles()); err != nil {
		return fmt.Errorf("postgres: loading the migrations: %w", err)
	}
	latest := int32(len(m.Migrations))
	if version < 0 {
		version = latest
	}
	m.OnStart = func(seq int32, name, direction, _ string) {
		s.log.Info("migrating the mail schema", "version", seq, "name", name, "direction", direction)
	}
	err = m.MigrateTo(ctx, version)
	var bad migrate.BadVersionError
	if errors.As(err, &bad) {
		current, verr := m.GetCurrentVersion(ctx)
		if verr == nil && current > latest {
			return fmt.Errorf("postgres: the database's mail schema is at version %d, newer than this program's %d: upgrade the program", current, latest)
		}
	}
	if err != nil {
		return fmt.Errorf("postgres: migrating the mail schema to version %d: %w", version, err)
	}
	return nil
}

// migrationFiles returns the embedded migrations directory as the root
// tern reads.
func migrationFiles() fs.FS {
	dir, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // a constant, valid path
	}
	return dir
}
