package smtpd_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/mail"
	"strings"

	"github.com/ownmx/ownmx/smtpd"
)

// A middleware spools the message, prepends a header field and hands next
// a reader that next can read twice: once to parse the message, once to
// store it, with no second copy.
func ExampleReread() {
	tag := func(next smtpd.DataHandler) smtpd.DataHandler {
		return smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
			sp := &smtpd.Spool{}
			defer sp.Close() // after next has returned
			if _, err := sp.ReadFrom(r); err != nil {
				return err
			}
			field := []byte("X-Spooled: yes\r\n")
			return next.Data(ctx, env, smtpd.MultiReaderAt(bytes.NewReader(field), sp.Reader()))
		})
	}
	handler := smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
		msg, ok := smtpd.Reread(r)
		if !ok {
			return fmt.Errorf("message of %s cannot be read twice", env.ID)
		}
		m, err := mail.ReadMessage(msg)
		if err != nil {
			return err
		}
		fmt.Println("Subject:", m.Header.Get("Subject"))

		again, _ := smtpd.Reread(r)
		stored, err := io.ReadAll(again) // a store would write it to disk
		fmt.Printf("stored %d bytes, starting %q\n", len(stored), stored[:16])
		return err
	})

	msg := "Subject: Lunch\r\n\r\nAt noon?\r\n"
	err := smtpd.Chain(handler, tag).Data(context.Background(), &smtpd.Envelope{ID: "tx1"}, strings.NewReader(msg))
	fmt.Println("error:", err)
	// Output:
	// Subject: Lunch
	// stored 44 bytes, starting "X-Spooled: yes\r\n"
	// error: <nil>
}
