package pgtest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
)

// shared is the cluster that Shared makes databases on: started by the
// first Shared call of the test binary, stopped by Main.
var shared struct {
	sync.Mutex
	main bool     // Main runs the tests
	c    *cluster // started
	err  error    // why it could not be started
}

// M wraps a package's testing.M so that the cluster of Shared is stopped
// when the tests are done. Its Run method runs the tests; goleak's
// VerifyTestMain takes it in place of the testing.M.
type M struct {
	m *testing.M
}

// Main returns m wrapped for a package whose tests call Shared:
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.Main(m)) }
//
// or, without goleak, os.Exit(pgtest.Main(m).Run()).
func Main(m *testing.M) *M { return &M{m: m} }

// Run runs the tests, then stops the cluster of Shared, if they started
// it, and removes its directory. It returns the tests' exit code, or 1 if
// the cluster could not be stopped.
func (m *M) Run() int {
	shared.Lock()
	shared.main = true
	shared.Unlock()
	code := m.m.Run()
	shared.Lock()
	defer shared.Unlock()
	shared.main = false
	if shared.c != nil {
		if err := shared.c.close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			if code == 0 {
				code = 1
			}
		}
		shared.c = nil
	}
	return code
}

// Shared creates a new empty database for the test on a cluster shared by
// the test binary, started by the first call, and returns its URL. The
// database is dropped at the test's cleanup; if the test failed, what the
// server logged while it ran is written to the test's output. The
// package's TestMain must run its tests through Main, which stops the
// cluster; Shared fails the test otherwise. A test that stops or kills its
// server uses Start.
func Shared(t testing.TB) (url string) {
	t.Helper()
	c, err := sharedCluster(t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	logStart := c.logSize()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pgtest: the log of the shared server in %s while the test ran:\n%s", c.data, c.logSince(logStart))
		}
	})
	return c.createDatabase(t)
}

// sharedCluster returns the shared cluster, starting it on the first call,
// which reports to logf the stale clusters it removes.
func sharedCluster(logf func(format string, args ...any)) (*cluster, error) {
	shared.Lock()
	defer shared.Unlock()
	if !shared.main {
		return nil, fmt.Errorf("pgtest: Shared needs the package's TestMain to run the tests through pgtest.Main, which stops the shared cluster: func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.Main(m)) }")
	}
	if shared.c == nil && shared.err == nil {
		shared.c, shared.err = newCluster(context.Background(), logf)
	}
	return shared.c, shared.err
}
