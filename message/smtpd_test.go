package message_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/ownmx/ownmx/message"
	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// delivered is what the Data handler of TestDataHandler saw.
type delivered struct {
	m      *message.Message
	err    error
	tag    string
	hashes map[string]string // attachment contents, by file name
}

// TestDataHandler parses messages in a Data handler of a real smtpd.Server
// on loopback: the reader it gets (CR LF lines, dot-stuffing undone, the
// server's Received field first) parses as the file does.
func TestDataHandler(t *testing.T) {
	got := make(chan delivered, 1)
	addr := smtptest.Start(t, &smtpd.Server{
		Hostname: "mx.example.com",
		Rcpt:     smtpd.AcceptDomains("example.com"),
		Data: smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
			d := delivered{hashes: map[string]string{}}
			_, d.tag = message.PlusTag(env.Rcpt[0])
			d.m, d.err = message.ParseWithOptions(r, &message.Options{
				Attachment: func(a *message.Attachment, content io.Reader) error {
					h := sha256.New()
					if _, err := io.Copy(h, content); err != nil {
						return err
					}
					d.hashes[a.Filename] = fmt.Sprintf("%x", h.Sum(nil))
					return nil
				},
			})
			var perr *message.ParseError
			if d.err != nil && !errors.As(d.err, &perr) {
				return d.err // the connection failed: 451
			}
			got <- d
			return nil
		}),
	})

	for _, file := range []string{"plain.eml", "mixed.eml", "related.eml", "rfc2231.eml", "forwarded.eml"} {
		t.Run(file, func(t *testing.T) {
			// A last line starting with ".", in the text of plain.eml, the
			// epilogue of the others, tests the dot-stuffing (RFC 5321 §4.5.2).
			msg := strings.ReplaceAll(testdata(t, file), "\n", "\r\n") + ".hidden dot\r\n"
			if err := smtptest.Send(addr, "sender@example.net", []string{"alice+" + strings.TrimSuffix(file, ".eml") + "@example.com"}, msg); err != nil {
				t.Fatal(err)
			}
			d := <-got
			want := parse(t, strings.ReplaceAll(testdata(t, file), "\n", "\r\n")+".hidden dot\r\n", nil)
			if d.err != nil {
				t.Errorf("error %v", d.err)
			}
			if d.tag != strings.TrimSuffix(file, ".eml") {
				t.Errorf("tag %q", d.tag)
			}
			if rcv := d.m.Header.Get("Received"); !strings.Contains(rcv, "by mx.example.com") {
				t.Errorf("first Received field %q is not smtpd's", rcv)
			}
			if d.m.Subject != want.m.Subject || d.m.Text != want.m.Text || d.m.HTML != want.m.HTML || len(d.m.Attachments) != len(want.m.Attachments) {
				t.Errorf("over SMTP: %q %q %q %d attachments; from the file: %q %q %q %d attachments",
					d.m.Subject, d.m.Text, d.m.HTML, len(d.m.Attachments), want.m.Subject, want.m.Text, want.m.HTML, len(want.m.Attachments))
			}
			for i, a := range want.m.Attachments {
				sum := fmt.Sprintf("%x", sha256.Sum256([]byte(want.contents[a.Part])))
				if i < len(d.m.Attachments) && (*d.m.Attachments[i] != *a || d.hashes[a.Filename] != sum) {
					t.Errorf("attachment %d over SMTP %+v (sha256 %s), from the file %+v (sha256 %s)", i, *d.m.Attachments[i], d.hashes[a.Filename], *a, sum)
				}
			}
		})
	}
}
