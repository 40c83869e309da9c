package ownmx_test

import (
	"log"

	"github.com/ownmx/ownmx/auth"
	"github.com/ownmx/ownmx/dnsx"
	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/store"
)

// An inbox for example.com: SPF, DKIM and DMARC on every message with the
// sender's policy applied, one Maildir per address.
func Example() {
	resolver := dnsx.NewCache(dnsx.NewResolver("127.0.0.53:53"), 0)
	checker := &auth.Checker{Resolver: resolver}
	boxes := &store.Mailboxes{Root: "/var/mail/ownmx", Domains: []string{"example.com"}}
	srv := &smtpd.Server{
		Addr:     ":25",
		Hostname: "mx.example.com",
		Mail:     checker.MailHandler(nil),
		Rcpt:     smtpd.AcceptDomains("example.com").Then(boxes),
		Data:     smtpd.Chain(store.Handler(boxes), checker.Middleware("mx.example.com")),
	}
	log.Fatal(srv.ListenAndServe())
}
