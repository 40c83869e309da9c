package queue_test

import (
	"path/filepath"
	"testing"

	"github.com/ownmx/ownmx/queue"
	"github.com/ownmx/ownmx/queue/queuetest"
)

// TestSuite runs the conformance suite of package queuetest against the
// local queue.
func TestSuite(t *testing.T) {
	queuetest.Run(t, func(t *testing.T, opts *queue.Options) queuetest.Q {
		q, err := queue.Open(filepath.Join(t.TempDir(), "queue"), opts)
		if err != nil {
			t.Fatal(err)
		}
		return queuetest.Local(q)
	})
}
