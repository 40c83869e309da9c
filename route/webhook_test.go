package route_test

import (
	"testing"

	"github.com/ownmx/ownmx/route"
	"github.com/ownmx/ownmx/webhook"
)

// A webhook.Endpoint handed to a route is queued: only its Sync form
// decides the SMTP reply, so that the client never waits on a receiver
// that nobody asked to decide.
func TestWebhookQueuedUnlessSync(t *testing.T) {
	hook := &webhook.Endpoint{URL: "http://127.0.0.1:1/hook"}
	var a route.Action = hook
	if _, ok := a.(route.Decider); ok {
		t.Error("a webhook.Endpoint is a route.Decider: every webhook route would make the client wait")
	}
	a = hook.Sync()
	if _, ok := a.(route.Decider); !ok {
		t.Error("webhook.Endpoint.Sync() is not a route.Decider")
	}
}
