package pgtest

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkStart measures what Start and its cleanup cost: initdb, the
// server's start, and its stop and removal.
func BenchmarkStart(b *testing.B) {
	for b.Loop() {
		c, err := newCluster(context.Background(), b.Logf)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSharedDatabase measures what Shared and its cleanup cost once
// the cluster runs: a database's creation and drop.
func BenchmarkSharedDatabase(b *testing.B) {
	c, err := newCluster(context.Background(), b.Logf)
	if err != nil {
		b.Fatal(err)
	}
	defer c.close()
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("bench_%d", i)
		if err := c.create(context.Background(), name); err != nil {
			b.Fatal(err)
		}
		if err := c.drop(context.Background(), name); err != nil {
			b.Fatal(err)
		}
	}
}
