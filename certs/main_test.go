package certs

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// pebble's validation authority, run in-process by the ACME tests,
	// starts a task loop that it never stops.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/letsencrypt/pebble/v2/va.VAImpl.processTasks"))
}
