package smtptest_test

import (
	"context"
	"fmt"
	"io"
	"net/mail"

	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// A test starts a Server on loopback, sends it a message with a real SMTP
// client and looks at what the Data handler got.
func Example() {
	got := make(chan string, 1)
	srv := &smtpd.Server{
		Hostname: "mx.example.com",
		Rcpt:     smtpd.AcceptDomains("example.com"),
		Data: smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
			msg, err := mail.ReadMessage(r)
			if err != nil {
				return err
			}
			got <- fmt.Sprintf("from %s to %v: %s", env.From, env.Rcpt, msg.Header.Get("Subject"))
			_, err = io.Copy(io.Discard, msg.Body)
			return err
		}),
	}
	ts := smtptest.NewServer(srv)
	defer ts.Close()

	err := smtptest.Send(ts.Addr, "alice@example.org", []string{"bob@example.com"},
		"Subject: hello\n\nHi Bob.\n")
	fmt.Println("send:", err)
	fmt.Println(<-got)

	err = smtptest.Send(ts.Addr, "alice@example.org", []string{"carol@elsewhere.example"},
		"Subject: relay?\n\nNo.\n")
	fmt.Println("send:", err)
	// Output:
	// send: <nil>
	// from alice@example.org to [bob@example.com]: hello
	// send: 550 5.7.1 Relaying denied: this server does not accept mail for that domain
}
