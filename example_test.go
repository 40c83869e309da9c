package ownmx_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"

	"github.com/ownmx/ownmx/auth"
	"github.com/ownmx/ownmx/dnsx"
	"github.com/ownmx/ownmx/dnsx/dnstest"
	"github.com/ownmx/ownmx/message"
	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
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

// A Data handler after auth's middleware has what an application needs:
// the verdict (auth.ResultsFrom), the message to read again without a copy
// of its own (smtpd.Reread), and its parts (message.Parse); then it stores
// the message. DNS comes from a test server here; use your resolver.
func Example_dataHandler() {
	dns, err := dnstest.Start(`
example.org.        300 IN SOA ns.example.org. hostmaster.example.org. 1 3600 600 86400 300
example.org.        300 IN TXT "v=spf1 ip4:127.0.0.1 -all"
_dmarc.example.org. 300 IN TXT "v=DMARC1; p=reject"
`)
	if err != nil {
		log.Fatal(err)
	}
	defer dns.Close()
	dir, err := os.MkdirTemp("", "example-maildir-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	checker := &auth.Checker{Resolver: dnsx.NewResolver(dns.Addr), Logger: slog.New(slog.DiscardHandler)}
	keep := store.Handler(&store.Maildir{Dir: dir})
	handle := smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
		res, _ := auth.ResultsFrom(env)
		fmt.Println("verdict:", res.Verdict(), "dmarc:", res.DMARC.Result)

		msg, ok := smtpd.Reread(r) // the middleware's spool, from its first byte
		if !ok {
			return errors.New("no spooling middleware before this handler")
		}
		m, err := message.ParseWithOptions(msg, &message.Options{
			Attachment: func(a *message.Attachment, content io.Reader) error {
				fmt.Printf("attachment %s (%s)\n", a.Filename, a.ContentType)
				return nil // or stream content to storage
			},
		})
		if err != nil {
			return err
		}
		fmt.Printf("subject %q from %s: %q\n", m.Subject, m.From.Address, m.Text)
		return keep.Data(ctx, env, r) // r itself, read once, as the store wants it
	})
	srv := smtptest.NewServer(&smtpd.Server{
		Hostname: "mx.example.com",
		Mail:     checker.MailHandler(nil),
		Rcpt:     smtpd.AcceptDomains("example.com"),
		Data:     smtpd.Chain(handle, checker.Middleware("mx.example.com")),
	})
	defer srv.Close()

	err = smtptest.Send(srv.Addr, "alice@example.org", []string{"bob@example.com"},
		"From: Alice <alice@example.org>\r\n"+
			"Subject: Minutes\r\n"+
			"MIME-Version: 1.0\r\n"+
			"Content-Type: multipart/mixed; boundary=b\r\n"+
			"\r\n"+
			"--b\r\n"+
			"Content-Type: text/plain; charset=utf-8\r\n"+
			"\r\n"+
			"Minutes attached.\r\n"+
			"--b\r\n"+
			"Content-Type: application/pdf\r\n"+
			"Content-Disposition: attachment; filename=minutes.pdf\r\n"+
			"Content-Transfer-Encoding: base64\r\n"+
			"\r\n"+
			"JVBERi0xLjQK\r\n"+
			"--b--\r\n")
	fmt.Println("send:", err)
	// Output:
	// verdict: deliver dmarc: pass
	// attachment minutes.pdf (application/pdf)
	// subject "Minutes" from alice@example.org: "Minutes attached."
	// send: <nil>
}
