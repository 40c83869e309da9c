package auth_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/mail"
	"strings"

	"github.com/ownmx/ownmx/auth"
	"github.com/ownmx/ownmx/dnsx"
	"github.com/ownmx/ownmx/dnsx/dnstest"
	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// exampleZone is the DNS of the examples' sender, served on loopback by
// dnstest: example.org sends from 192.0.2.1 only, and asks that mail
// failing DMARC be quarantined.
const exampleZone = `
example.org.        300 IN SOA ns.example.org. hostmaster.example.org. 1 3600 600 86400 300
example.org.        300 IN TXT "v=spf1 ip4:192.0.2.1 -all"
_dmarc.example.org. 300 IN TXT "v=DMARC1; p=quarantine"
`

// exampleMessage is a message from alice@example.org, who does not sign.
const exampleMessage = "From: Alice <alice@example.org>\r\n" +
	"To: bob@example.com\r\n" +
	"Subject: Lunch\r\n" +
	"\r\n" +
	"Shall we meet at noon?\r\n"

// A Data handler after the middleware finds the verdict and the results
// behind it with ResultsFrom: here a message from a domain whose SPF
// does not list the client, and that asks for quarantine.
func ExampleResultsFrom() {
	dns, err := dnstest.Start(exampleZone) // your resolver in production
	if err != nil {
		log.Fatal(err)
	}
	defer dns.Close()
	checker := &auth.Checker{Resolver: dnsx.NewResolver(dns.Addr), Logger: slog.New(slog.DiscardHandler)}

	store := smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
		res, ok := auth.ResultsFrom(env)
		if !ok {
			return errors.New("no auth middleware before this handler")
		}
		fmt.Println("spf:", res.SPF.Result, res.SPF.Domain)
		fmt.Println("dkim signatures:", len(res.DKIM))
		fmt.Println("dmarc:", res.DMARC.Result, res.DMARC.Domain, "policy", res.DMARC.Policy)
		fmt.Println("verdict:", res.Verdict(), "junk:", env.Quarantine)
		_, err := io.Copy(io.Discard, r) // store it, in Junk if env.Quarantine
		return err
	})
	srv := smtptest.NewServer(&smtpd.Server{
		Hostname: "mx.example.com",
		Rcpt:     smtpd.AcceptDomains("example.com"),
		Mail:     checker.MailHandler(nil),
		Data:     smtpd.Chain(store, checker.Middleware("mx.example.com")),
	})
	defer srv.Close()

	if err := smtptest.Send(srv.Addr, "alice@example.org", []string{"bob@example.com"}, exampleMessage); err != nil {
		log.Fatal(err)
	}
	// Output:
	// spf: fail example.org
	// dkim signatures: 0
	// dmarc: fail example.org policy quarantine
	// verdict: quarantine junk: true
}

// A Data handler after the middleware reads the message as often as it
// needs, without keeping a copy of its own: the middleware hands on its
// spool, with the Authentication-Results field in front, and
// smtpd.Reread gives a new reader of it from the first byte. Here the
// handler parses the message, then reads it again as a store would.
func Example_readTwice() {
	dns, err := dnstest.Start(exampleZone)
	if err != nil {
		log.Fatal(err)
	}
	defer dns.Close()
	checker := &auth.Checker{Resolver: dnsx.NewResolver(dns.Addr), Logger: slog.New(slog.DiscardHandler)}

	handler := smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
		msg, ok := smtpd.Reread(r)
		if !ok {
			return errors.New("the message cannot be read twice")
		}
		m, err := mail.ReadMessage(msg)
		if err != nil {
			return err
		}
		fmt.Println("Subject:", m.Header.Get("Subject"))

		again, _ := smtpd.Reread(r) // what a store would write, from its first byte
		lines := bufio.NewScanner(again)
		for lines.Scan() && !strings.HasPrefix(lines.Text(), "Received:") {
			fmt.Println(lines.Text())
		}
		return lines.Err()
	})
	srv := smtptest.NewServer(&smtpd.Server{
		Hostname: "mx.example.com",
		Rcpt:     smtpd.AcceptDomains("example.com"),
		Mail:     checker.MailHandler(nil),
		Data:     smtpd.Chain(handler, checker.Middleware("mx.example.com")),
	})
	defer srv.Close()

	if err := smtptest.Send(srv.Addr, "alice@example.org", []string{"bob@example.com"}, exampleMessage); err != nil {
		log.Fatal(err)
	}
	// Output:
	// Subject: Lunch
	// Authentication-Results: mx.example.com;
	// 	spf=fail smtp.mailfrom=alice@example.org;
	// 	dkim=none;
	// 	dmarc=fail reason="policy quarantine" header.from=example.org
}
