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
//     hold, relay protection, strict syntax, trace headers. It is built on
//     github.com/emersion/go-smtp. smtpd/smtptest runs one inside a test.
//   - auth checks SPF, DKIM and DMARC and applies the sender domain's
//     DMARC policy: deliver, deliver to Junk, or refuse.
//   - dnsx is the DNS side: lookups on a resolver you choose, a cache, and
//     a checker for your domain's MX, A, SPF and DMARC records.
//     dnsx/dnstest serves DNS on loopback for tests.
//   - store is where mail lands: Maildir, written so that a 250 reply
//     means the message is on disk.
//   - examples holds programs to start from: examples/hello logs each
//     stage of a session; examples/inbox is a working inbox for a domain.
//
// A server for one domain that logs what it receives:
//
//	srv := &smtpd.Server{
//		Addr: ":25",
//		Rcpt: smtpd.AcceptDomains("example.com"),
//		Data: smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
//			n, err := io.Copy(io.Discard, r)
//			log.Printf("%s: %d bytes from %s to %v", env.ID, n, env.From, env.Rcpt)
//			return err
//		}),
//	}
//	log.Fatal(srv.ListenAndServe())
package ownmx
