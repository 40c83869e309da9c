package message_test

import (
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/ownmx/ownmx/message"
)

// A message with a text, an HTML alternative and an attachment, parsed as
// a Data handler would: each attachment's content streams to the
// Attachment func, here counted.
func Example() {
	const msg = "Received: from client.example by mx.example.com; Tue, 2 Jan 2024 15:04:06 +0000\r\n" +
		"From: =?UTF-8?Q?J=C3=B6rg?= <jorg@example.com>\r\n" +
		"To: alice+invoices@example.com\r\n" +
		"Subject: =?UTF-8?Q?Invoice_f=C3=BCr_Januar?=\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n" +
		"\r\n" +
		"--b\r\n" +
		"Content-Type: multipart/alternative; boundary=a\r\n" +
		"\r\n" +
		"--a\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: quoted-printable\r\n" +
		"\r\n" +
		"Hallo Alice, die Rechnung ist angeh=C3=A4ngt.\r\n" +
		"--a\r\n" +
		"Content-Type: text/html; charset=utf-8\r\n" +
		"\r\n" +
		"<p>Hallo Alice, die Rechnung ist angehängt.</p>\r\n" +
		"--a--\r\n" +
		"--b\r\n" +
		"Content-Type: application/pdf\r\n" +
		"Content-Disposition: attachment; filename*=utf-8''Rechnung%20J%C3%A4nner.pdf\r\n" +
		"Content-Transfer-Encoding: base64\r\n" +
		"\r\n" +
		"JVBERi0xLjQKJeLjz9MK\r\n" +
		"--b--\r\n"

	m, err := message.ParseWithOptions(strings.NewReader(msg), &message.Options{
		Attachment: func(a *message.Attachment, content io.Reader) error {
			n, err := io.Copy(io.Discard, content) // or to a file, a bucket...
			fmt.Printf("streamed %s: %d bytes\n", a.Filename, n)
			return err
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	_, tag := message.PlusTag(m.To[0].Address)
	fmt.Println("Subject:", m.Subject)
	fmt.Println("From:", m.From.Name, m.From.Address)
	fmt.Println("Tag:", tag)
	fmt.Printf("Text: %q\n", m.Text)
	for _, a := range m.Attachments {
		fmt.Printf("Attachment: %s (%s, %d bytes)\n", a.Filename, a.ContentType, a.Size)
	}
	// Output:
	// streamed Rechnung Jänner.pdf: 15 bytes
	// Subject: Invoice für Januar
	// From: Jörg jorg@example.com
	// Tag: invoices
	// Text: "Hallo Alice, die Rechnung ist angehängt."
	// Attachment: Rechnung Jänner.pdf (application/pdf, 15 bytes)
}
