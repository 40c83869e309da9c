package postgres

import (
	"testing"

	"github.com/ownmx/ownmx/internal/pgtest"
	"github.com/ownmx/ownmx/queue"
	"github.com/ownmx/ownmx/queue/queuetest"
)

// TestSuite runs the conformance suite of package queuetest against the
// PostgreSQL queue, each case in a database of its own.
func TestSuite(t *testing.T) {
	queuetest.Run(t, func(t *testing.T, opts *queue.Options) queuetest.Q {
		q := open(t, pgtest.Shared(t), &Options{Options: *opts})
		return queuetest.With(q, q.Admin())
	})
}
