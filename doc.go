// Package ownmx receives mail for your own domain: import it into a Go
// service, say which domains and mailboxes you accept, decide what happens
// to each message, and run it on port 25 of a server your domain's MX
// record points at.
//
// The work is split in packages with one job each:
//
//   - smtpd is the SMTP server: a Server with Connect, Mail, Rcpt and Data
//     handlers (Node smtp-server's onConnect, onMailFrom, onRcptTo and
//     onData, done the Go way), safe by default: limits and deadlines that
//     hold, relay protection, strict syntax, trace headers, with its own
//     protocol loop, the PROXY protocol from trusted load balancers and an
//     Observer for metrics. smtpd/smtptest runs one inside a test.
//   - ratelimit limits connections and messages a minute per client
//     network and per sender domain, in bounded memory.
//   - metrics/prometheus exports the Observer's events, the auth verdicts
//     and the queue's tries as Prometheus metrics.
//   - auth checks SPF, DKIM and DMARC and applies the sender domain's
//     DMARC policy: deliver, deliver to Junk, or refuse.
//   - dnsx is the DNS side: lookups on a resolver you choose, a cache, and
//     a checker for your domain's MX, A, SPF and DMARC records.
//     dnsx/dnstest serves DNS on loopback for tests.
//   - certs gives STARTTLS its certificate: from PEM files reloaded when
//     they change, or from an ACME CA such as Let's Encrypt (RFC 8555).
//   - mtasts serves and checks your domain's MTA-STS policy (RFC 8461) so
//     that senders use TLS to reach you, and tlsrpt reads the TLS reports
//     they send back (RFC 8460).
//   - store is where mail lands: Maildir, written so that a 250 reply
//     means the message is on disk.
//   - message turns a received message into what applications use:
//     addresses, subject, text and HTML in UTF-8, attachments streamed.
//   - queue is the durable hand-off to applications: a message committed
//     once (250 after fsync), then its deliveries run, retried with
//     backoff, dead letters kept for replay.
//   - route sends each recipient's mail to actions by pattern (store,
//     webhook, forward, drop), the most specific winning, as
//     http.ServeMux does.
//   - webhook POSTs messages, parsed or raw, signed as Standard Webhooks
//     has it, from the queue or while the client waits.
//   - forward sends mail on to a mailbox elsewhere so that it keeps
//     passing SPF, DKIM and DMARC there: send delivers it (MX, STARTTLS,
//     MTA-STS from mtasts) and builds bounces (RFC 3464), srs rewrites
//     its MAIL FROM (SRS), and auth seals it with ARC (RFC 8617).
//   - examples holds programs to start from: examples/hello logs each
//     stage of a session; examples/inbox is a working inbox for a domain.
//
// An inbox for example.com, composed from the packages (examples/inbox is
// the whole program):
//
//	resolver := dnsx.NewCache(dnsx.NewResolver("127.0.0.53:53"), 0)
//	checker := &auth.Checker{Resolver: resolver}
//	boxes := &store.Mailboxes{Root: "/var/mail/ownmx", Domains: []string{"example.com"}}
//	srv := &smtpd.Server{
//		Addr:     ":25",
//		Hostname: "mx.example.com",
//		Mail:     checker.MailHandler(nil),                       // SPF at MAIL FROM
//		Rcpt:     smtpd.AcceptDomains("example.com").Then(boxes), // no relaying, known mailboxes
//		Data:     smtpd.Chain(store.Handler(boxes), checker.Middleware("mx.example.com")),
//	}
//	log.Fatal(srv.ListenAndServe())
//
// The Data chain spools each message once, checks DKIM and DMARC, adds an
// Authentication-Results header, refuses (550) or defers (451) when the
// sender domain's policy says so, and otherwise hands the message to the
// Maildir of each recipient (to its Junk folder under p=quarantine); the
// client hears 250 only once every copy is on disk. A handler of your own
// after the middleware finds the verdict with auth.ResultsFrom, reads the
// message again without a copy with smtpd.Reread and parses it with
// message.Parse (see the examples). For mail handed to an application,
// the Data handler of a route.Mux commits each message to a queue.Queue
// once and its actions (a webhook, a Maildir) run from there (see the
// README and examples/inbox's -webhook and -routes).
package ownmx
