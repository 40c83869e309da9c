package auth_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/netip"
	"strings"

	"github.com/ownmx/ownmx/auth"
	"github.com/ownmx/ownmx/dnsx"
	"github.com/ownmx/ownmx/smtpd"
)

// Wiring SPF, DKIM and DMARC into a server takes two lines: the Mail
// handler checks SPF at MAIL FROM, the middleware checks DKIM and DMARC
// after DATA, adds Authentication-Results, sets Quarantine or refuses, and
// passes the message on to the store.
func Example() {
	checker := &auth.Checker{
		// Any dnsx.Resolver; a cache saves asking the same questions for
		// every message of a busy sender.
		Resolver: dnsx.NewCache(dnsx.NewResolver("127.0.0.53:53"), 0),
	}
	store := smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
		// Store r durably, in the Junk folder if env.Quarantine.
		_, err := io.Copy(io.Discard, r)
		return err
	})
	srv := &smtpd.Server{
		Hostname: "mx.example.com",
		Rcpt:     smtpd.AcceptDomains("example.com"),
		Mail:     checker.MailHandler(nil),
		Data:     smtpd.Chain(store, checker.Middleware("mx.example.com")),
	}
	if false { // an example does not listen on port 25
		log.Fatal(srv.ListenAndServe())
	}
}

// A Checker can be used without smtpd: SPF with what the SMTP session
// said, then Check on the message.
func ExampleChecker_Check() {
	checker := &auth.Checker{Resolver: dnsx.NewCache(dnsx.NewResolver("127.0.0.53:53"), 0)}
	check := func(ctx context.Context, ip netip.Addr, helo, mailFrom string, msg io.Reader) error {
		spf := checker.SPF(ctx, ip, helo, mailFrom)
		res, err := checker.Check(ctx, spf, msg)
		if err != nil {
			return err
		}
		fmt.Print(res.AuthenticationResults("mx.example.com"))
		switch res.Verdict() {
		case auth.Reject, auth.Defer:
			return fmt.Errorf("refused: %v", res.DMARC.Err)
		}
		return nil
	}
	_ = check
}

func ExampleResults_AuthenticationResults() {
	res := &auth.Results{
		SPF:   auth.SPFResult{Result: auth.Pass, MailFrom: "bounce@mail.example.org", Domain: "mail.example.org"},
		DKIM:  []auth.DKIMResult{{Result: auth.Pass, Domain: "example.org", Identifier: "@example.org"}},
		DMARC: auth.DMARCResult{Result: auth.Pass, Domain: "example.org", Policy: "reject", Verdict: auth.Deliver},
	}
	// The field's lines end in CRLF, as in a message; printed here with LF.
	fmt.Print(strings.ReplaceAll(res.AuthenticationResults("mx.example.com"), "\r\n", "\n"))
	// Output:
	// Authentication-Results: mx.example.com;
	// 	spf=pass smtp.mailfrom=bounce@mail.example.org;
	// 	dkim=pass header.d=example.org header.i=@example.org;
	// 	dmarc=pass header.from=example.org
}
