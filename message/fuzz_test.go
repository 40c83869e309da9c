package message_test

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/ownmx/ownmx/message"
)

// sectionNumber is the form of a Problem's or an Attachment's Part.
var sectionNumber = regexp.MustCompile(`^([1-9][0-9]*(\.[1-9][0-9]*)*)?$`)

// FuzzParse parses any input, with small limits and with the defaults,
// and checks that Parse returns (it does not panic or hang), that the
// Message holds valid UTF-8 within the limits and safe file names, that
// each Size is the number of bytes the Attachment func could read, the
// same whether the func reads all, some or nothing, that an attachment
// whose content could not be read whole comes with an error, and that
// the same input gives the same Message. The seed corpus is
// testdata/fuzz/FuzzParse: the messages of testdata as a Data handler
// gets them, and malformed ones.
func FuzzParse(f *testing.F) {
	f.Add([]byte("Subject: s\r\n\r\nbody"))
	f.Add([]byte(wire(multipartMessage(textPart, "Content-Type: image/png\nContent-Transfer-Encoding: base64\n\naGVsbG8="))))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, opts := range []*message.Options{
			{MaxTextBytes: 64, MaxHeaderBytes: 512, MaxParts: 20, MaxDepth: 4},
			nil,
		} {
			res := parse(t, string(data), opts) // checks UTF-8, limits, names, Size = bytes read
			if res.err != nil {
				var perr *message.ParseError
				if !errors.As(res.err, &perr) || len(perr.Problems) == 0 {
					t.Fatalf("error %v (%T), want a *ParseError with problems", res.err, res.err)
				}
				for _, p := range perr.Problems {
					if !sectionNumber.MatchString(p.Part) || p.Err == nil {
						t.Fatalf("problem in part %q: %v", p.Part, p.Err)
					}
				}
			}
			for _, a := range res.m.Attachments {
				if !sectionNumber.MatchString(a.Part) {
					t.Fatalf("attachment part %q", a.Part)
				}
			}
			// Sizes do not depend on what the func reads.
			var o message.Options
			if opts != nil {
				o = *opts
			}
			i := 0
			o.Attachment = func(a *message.Attachment, content io.Reader) error {
				i++
				switch i % 3 {
				case 1:
					_, _ = io.CopyN(io.Discard, content, int64(i))
				case 2:
					_, _ = io.Copy(io.Discard, content)
				}
				return nil
			}
			m, err := message.ParseWithOptions(strings.NewReader(string(data)), &o)
			if got, want := summary(m, err), summary(res.m, res.err); got != want {
				t.Fatalf("parsed twice, reading attachments differently:\n%s\n%s", got, want)
			}
		}
	})
}

// summary prints what Parse returned.
func summary(m *message.Message, err error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%q %q %q %q %q %v %v\n", m.Subject, m.From, m.Text, m.HTML, m.MessageID, m.TextTruncated, m.HTMLTruncated)
	for _, a := range m.Attachments {
		fmt.Fprintf(&b, "%+v\n", *a)
	}
	fmt.Fprintf(&b, "%v", err)
	return b.String()
}
