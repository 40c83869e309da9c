package route_test

import (
	"fmt"

	"github.com/ownmx/ownmx/route"
	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/store"
)

// A Mux for example.com: every mailbox stored, order confirmations also
// posted to a webhook, no-reply addresses dropped; AcceptDomains before it
// so that the server never relays, and its Handler committing each message
// once to the queue.
func ExampleMux() {
	boxes := &store.Mailboxes{Root: "/var/mail/ownmx", Domains: []string{"example.com"}}
	var hook route.Action = route.Drop // stands in for a webhook.Endpoint here
	var q route.Committer              // a *queue.Queue from queue.Open

	mux := route.NewMux()
	mux.Handle("*@example.com", route.Store(boxes))
	mux.Handle("orders+*@example.com", route.Store(boxes), hook)
	mux.Handle("noreply@", route.Drop)
	mux.Handle("postmaster@", route.Store(boxes))
	srv := &smtpd.Server{
		Hostname: "mx.example.com",
		Rcpt:     smtpd.AcceptDomains("example.com").Then(mux),
		Data:     mux.Handler(q),
	}
	_ = srv // srv.ListenAndServe(), and q.Run(ctx, mux) to run the deliveries

	for _, rcpt := range []string{"me@example.com", "Orders+42@Example.com", "orders@example.com", "noreply@example.com", "Postmaster"} {
		pattern, actions, _ := mux.Match(rcpt)
		fmt.Printf("%-22s %-21s %d action(s)\n", rcpt, pattern, len(actions))
	}
	// Output:
	// me@example.com         *@example.com         1 action(s)
	// Orders+42@Example.com  orders+*@example.com  2 action(s)
	// orders@example.com     *@example.com         1 action(s)
	// noreply@example.com    noreply@              1 action(s)
	// Postmaster             postmaster@           1 action(s)
}
