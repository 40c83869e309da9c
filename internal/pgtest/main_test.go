package pgtest_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/ownmx/ownmx/internal/pgtest"
)

// TestMain fails the run if a test leaves a goroutine behind, and stops the
// cluster of pgtest.Shared.
func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.Main(m)) }
