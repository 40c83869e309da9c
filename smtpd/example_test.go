package smtpd_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/netip"
	"strings"

	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// A server for one domain with a handler for each stage of a session.
func ExampleServer() {
	srv := &smtpd.Server{
		Addr:     ":25",
		Hostname: "mx.example.com",
		// Before the greeting: turn away a network.
		Connect: smtpd.ConnectFunc(func(ctx context.Context, c *smtpd.Conn) error {
			if netip.MustParsePrefix("192.0.2.0/24").Contains(c.RemoteAddr.Addr()) {
				return smtpd.ErrAccessDenied
			}
			return nil
		}),
		// At MAIL FROM: refuse a sender.
		Mail: smtpd.MailFunc(func(ctx context.Context, env *smtpd.Envelope) error {
			if strings.HasSuffix(env.From, "@spam.example") {
				return smtpd.Errorf(550, smtpd.EnhancedCode{5, 7, 1}, "Sender refused")
			}
			return nil
		}),
		// At RCPT TO: our domain only, and only known users.
		Rcpt: smtpd.AcceptDomains("example.com").Then(smtpd.RcptFunc(func(ctx context.Context, env *smtpd.Envelope, to string) error {
			if local, _, _ := smtpd.SplitAddress(to); local != "me" {
				return smtpd.ErrNoSuchUser
			}
			return nil
		})),
		// After DATA: store the message, then return nil.
		Data: smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
			_, err := io.Copy(io.Discard, r)
			return err
		}),
	}
	log.Fatal(srv.ListenAndServe())
}

// Middleware wraps a DataHandler: here one that counts the bytes of each
// message before the handler that stores it.
func ExampleChain() {
	count := func(next smtpd.DataHandler) smtpd.DataHandler {
		return smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
			cr := &countingReader{r: r}
			err := next.Data(ctx, env, cr)
			fmt.Printf("%d recipient(s), %d bytes with the Received header\n", len(env.Rcpt), cr.n)
			return err
		})
	}
	keep := smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
		_, err := io.Copy(io.Discard, r)
		return err
	})
	ts := smtptest.NewServer(&smtpd.Server{
		Hostname: "mx.example.com",
		Rcpt:     smtpd.AcceptDomains("example.com"),
		Data:     smtpd.Chain(keep, count),
	})
	defer ts.Close()
	err := smtptest.Send(ts.Addr, "alice@example.org", []string{"bob@example.com"}, "Subject: hi\n\nhello\n")
	fmt.Println(err)
	// Output:
	// 1 recipient(s), 168 bytes with the Received header
	// <nil>
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// Refusals are *smtpd.Error values: the client sees their code and text.
func ExampleErrorf() {
	err := smtpd.Errorf(452, smtpd.EnhancedCode{4, 2, 2}, "Mailbox %s is full", "me@example.com")
	fmt.Println(err)
	// Output: 452 4.2.2 Mailbox me@example.com is full
}

// listedKey is the key of a blocklist answer kept on the connection.
type listedKey struct{}

// A Connect handler looks the client up once (here in a stand-in for a DNS
// blocklist) and leaves the answer on the connection; the Data handler of
// each transaction reads it, to tag the message rather than refuse it.
func ExampleConn_SetValue() {
	blocklist := map[string]bool{"127.0.0.1": true} // a DNSBL lookup in real life
	ts := smtptest.NewServer(&smtpd.Server{
		Hostname: "mx.example.com",
		Connect: smtpd.ConnectFunc(func(ctx context.Context, c *smtpd.Conn) error {
			c.SetValue(listedKey{}, blocklist[c.RemoteAddr.Addr().String()])
			return nil
		}),
		Rcpt: smtpd.AcceptDomains("example.com"),
		Data: smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
			listed, _ := env.Conn.Value(listedKey{}).(bool)
			fmt.Println("client listed:", listed)
			_, err := io.Copy(io.Discard, r)
			return err
		}),
	})
	defer ts.Close()
	err := smtptest.Send(ts.Addr, "alice@example.org", []string{"bob@example.com"}, "Subject: hi\n\nhello\n")
	fmt.Println(err)
	// Output:
	// client listed: true
	// <nil>
}

// ChainMail puts a cheap check before a costly one at MAIL FROM: a sender
// domain refused outright never costs an SPF lookup.
func ExampleChainMail() {
	refuse := func(next smtpd.MailHandler) smtpd.MailHandler {
		return smtpd.MailFunc(func(ctx context.Context, env *smtpd.Envelope) error {
			if strings.HasSuffix(env.From, "@spam.example") {
				return smtpd.Errorf(550, smtpd.EnhancedCode{5, 7, 1}, "Sender refused")
			}
			return next.Mail(ctx, env)
		})
	}
	spf := func(next smtpd.MailHandler) smtpd.MailHandler {
		return smtpd.MailFunc(func(ctx context.Context, env *smtpd.Envelope) error {
			fmt.Println("SPF check for", env.From) // auth.Checker.MailHandler in real life
			return next.Mail(ctx, env)
		})
	}
	ts := smtptest.NewServer(&smtpd.Server{
		Hostname: "mx.example.com",
		Mail:     smtpd.ChainMail(nil, refuse, spf),
		Rcpt:     smtpd.AcceptDomains("example.com"),
		Data: smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
			_, err := io.Copy(io.Discard, r)
			return err
		}),
	})
	defer ts.Close()
	fmt.Println(smtptest.Send(ts.Addr, "x@spam.example", []string{"bob@example.com"}, "Subject: hi\n\nhello\n"))
	fmt.Println(smtptest.Send(ts.Addr, "alice@example.org", []string{"bob@example.com"}, "Subject: hi\n\nhello\n"))
	// Output:
	// 550 5.7.1 Sender refused
	// SPF check for alice@example.org
	// <nil>
}
