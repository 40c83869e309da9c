package send_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"time"

	"github.com/ownmx/ownmx/dnsx"
	"github.com/ownmx/ownmx/dnsx/dnstest"
	"github.com/ownmx/ownmx/send"
	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// A message forwarded to bob@example.net, whose MX host refuses him; the
// bounce goes back to the sender. Here the DNS and the MX host run on
// loopback, and DialContext takes port 25 to the MX host's test port.
func ExampleSender() {
	dns, err := dnstest.Start(`
example.net.    IN SOA ns.example.net. hostmaster.example.net. 1 7200 900 1209600 300
example.net.    IN MX 10 mx.example.net.
mx.example.net. IN A  127.0.0.1
`)
	if err != nil {
		log.Fatal(err)
	}
	defer dns.Close()
	mx := smtptest.NewServer(&smtpd.Server{
		Hostname: "mx.example.net",
		Rcpt:     smtpd.AcceptDomains("example.net").Then(smtpd.RcptFunc(func(context.Context, *smtpd.Envelope, string) error { return smtpd.ErrNoSuchUser })),
		Data:     smtpd.DataFunc(func(context.Context, *smtpd.Envelope, io.Reader) error { return nil }),
	})
	defer mx.Close()

	s := &send.Sender{
		Hostname: "mx.example.com",
		Resolver: dnsx.NewResolver(dns.Addr),
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, mx.Addr) // every "IP:25" is the test server
		},
		Logger: slog.New(slog.DiscardHandler),
	}
	msg := "From: alice@example.org\r\nTo: info@example.com\r\nSubject: hi\r\n\r\nHello.\r\n"
	err = s.Send(context.Background(), "alice@example.org", "bob@example.net", io.NewSectionReader(strings.NewReader(msg), 0, int64(len(msg))))
	var e *send.Error
	if errors.As(err, &e) {
		fmt.Println("host:", e.Host, "command:", e.Command, "permanent:", send.IsPermanent(err))
		fmt.Println("reply:", e.Code, e.Enhanced, e.Message)
	}
	// Output:
	// host: mx.example.net command: RCPT TO permanent: true
	// reply: 550 5.1.1 No such user here
}

// The delivery report of a bounce, as a mail program reads it.
func ExampleBounce() {
	b := &send.Bounce{
		ReportingMTA: "mx.example.com",
		To:           "alice@example.org",
		Rcpt:         "bob@example.net",
		OriginalRcpt: "info@example.com",
		Arrival:      time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC),
		Now:          time.Date(2030, 6, 1, 12, 1, 0, 0, time.UTC),
		Err: &send.Error{
			Rcpt: "bob@example.net", Host: "mx.example.net", Command: send.CommandRcpt,
			Code: 550, Enhanced: smtpd.EnhancedCode{5, 1, 1}, Message: "No such user here", Permanent: true,
		},
		Header: strings.NewReader("From: alice@example.org\r\nSubject: hi\r\n\r\nHello.\r\n"),
	}
	dsn, err := b.Message()
	if err != nil {
		log.Fatal(err)
	}
	m, _ := mail.ReadMessage(strings.NewReader(string(dsn)))
	mediaType, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
	fmt.Println(mediaType, params["report-type"], m.Header.Get("Auto-Submitted"))
	parts := multipart.NewReader(m.Body, params["boundary"])
	parts.NextPart() // the text for people
	report, _ := parts.NextPart()
	fields, _ := io.ReadAll(report)
	fmt.Print(strings.ReplaceAll(string(fields), "\r\n", "\n"))
	// Output:
	// multipart/report delivery-status auto-replied
	// Reporting-MTA: dns; mx.example.com
	// Arrival-Date: Sat, 01 Jun 2030 12:00:00 +0000
	//
	// Original-Recipient: rfc822; info@example.com
	// Final-Recipient: rfc822; bob@example.net
	// Action: failed
	// Status: 5.1.1
	// Remote-MTA: dns; mx.example.net
	// Diagnostic-Code: smtp; 550 5.1.1 No such user here
	// Last-Attempt-Date: Sat, 01 Jun 2030 12:01:00 +0000
}
