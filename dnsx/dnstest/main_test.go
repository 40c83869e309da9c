package dnstest_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind, such as a
// server not stopped by its cleanup.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
