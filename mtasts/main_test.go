package mtasts_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind, such as a
// fetch still under way or a connection of an HTTPS client.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
