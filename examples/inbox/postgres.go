package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/ownmx/ownmx/queue"
	queuepg "github.com/ownmx/ownmx/queue/postgres"
	storepg "github.com/ownmx/ownmx/store/postgres"
)

// openTimeout bounds the connection to PostgreSQL and its migrations at
// start.
const openTimeout = time.Minute

// checkPostgresFlags checks the flags that go with -postgres.
func checkPostgresFlags(cfg *config, queueSet bool) error {
	if cfg.postgres == "" {
		return nil
	}
	if _, err := url.Parse(cfg.postgres); err != nil {
		// url's error quotes the URL, password and all: say less.
		return errors.New("-postgres: not a URL such as postgres://user:password@host/db")
	}
	if cfg.lease <= 0 {
		return fmt.Errorf("-queue-lease %v: must be positive", cfg.lease)
	}
	if queueSet {
		return errors.New("-queue and -postgres do not go together: with -postgres the queue is in the database")
	}
	return nil
}

// openPostgresStore opens the mail store of -postgres, its schema
// migrated.
func openPostgresStore(cfg *config, log *slog.Logger) (*storepg.Store, error) {
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	st, err := storepg.Open(ctx, cfg.postgres, &storepg.Options{Domains: cfg.domains, Users: cfg.users, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("-postgres %s: %w", redacted(cfg.postgres), err)
	}
	return st, nil
}

// openPostgresQueue opens the queue of -postgres, its schema migrated.
func openPostgresQueue(cfg *config, opts queue.Options) (*queuepg.Queue, error) {
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	q, err := queuepg.Open(ctx, cfg.postgres, &queuepg.Options{Options: opts, Lease: cfg.lease})
	if err != nil {
		return nil, fmt.Errorf("-postgres %s: the queue: %w", redacted(cfg.postgres), err)
	}
	return q, nil
}

// redacted is a database URL without its password, for logs and errors.
func redacted(dbURL string) string {
	if dbURL == "" {
		return ""
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		return "(a URL that does not parse)"
	}
	return u.Redacted()
}
