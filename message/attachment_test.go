package message_test

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/ownmx/ownmx/message"
)

// threeAttachments is a message with three attachments and its text last.
var threeAttachments = wire(multipartMessage(
	"Content-Type: application/pdf\nContent-Disposition: attachment; filename=a.pdf\nContent-Transfer-Encoding: base64\n\n"+
		"JVBERi0xLjQKJeLjz9MKMSAwIG9iago8PCA+PgplbmRvYmoKdHJhaWxlcgo8PCA+PgolJUVPRgo=",
	"Content-Type: image/png\nContent-Disposition: attachment; filename=b.png\n\n"+strings.Repeat("png ", 10000),
	"Content-Type: application/zip\nContent-Disposition: attachment; filename=c.zip\n\nzip",
	textPart,
))

// TestAttachmentFuncStops: an error of the Attachment func's own stops
// Parse, which returns it as it is, with what was read before it.
func TestAttachmentFuncStops(t *testing.T) {
	errDiskFull := errors.New("disk full")
	var calls []string
	m, err := message.ParseWithOptions(strings.NewReader(threeAttachments), &message.Options{
		Attachment: func(a *message.Attachment, content io.Reader) error {
			calls = append(calls, a.Filename)
			if a.Filename == "b.png" {
				return fmt.Errorf("saving %s: %w", a.Filename, errDiskFull)
			}
			return nil
		},
	})
	if !errors.Is(err, errDiskFull) || err.Error() != "saving b.png: disk full" {
		t.Fatalf("error %v, want the Attachment func's", err)
	}
	if strings.Join(calls, " ") != "a.pdf b.png" || len(m.Attachments) != 2 || m.Attachments[0].Size != 56 || m.Text != "" {
		t.Errorf("calls %q, attachments %d, text %q: want Parse stopped at b.png", calls, len(m.Attachments), m.Text)
	}
}

// TestAttachmentFuncReadsPart: what the func does not read is read and
// counted after it returns.
func TestAttachmentFuncReadsPart(t *testing.T) {
	sizes := func(read func(io.Reader)) []int64 {
		t.Helper()
		var opts *message.Options
		if read != nil {
			opts = &message.Options{Attachment: func(a *message.Attachment, content io.Reader) error {
				if a.Size != 0 {
					t.Errorf("%s: Size %d before the content is read", a.Filename, a.Size)
				}
				read(content)
				return nil
			}}
		}
		m, err := message.ParseWithOptions(strings.NewReader(threeAttachments), opts)
		if err != nil || m.Text != "the text" {
			t.Fatalf("error %v, text %q", err, m.Text)
		}
		var s []int64
		for _, a := range m.Attachments {
			s = append(s, a.Size)
		}
		return s
	}
	want := "[56 40000 3]"
	for name, read := range map[string]func(io.Reader){
		"no func":    nil,
		"none":       func(io.Reader) {},
		"10 bytes":   func(r io.Reader) { _, _ = io.ReadFull(r, make([]byte, 10)) },
		"everything": func(r io.Reader) { _, _ = io.Copy(io.Discard, r) },
	} {
		if got := fmt.Sprint(sizes(read)); got != want {
			t.Errorf("func reading %s: sizes %s, want %s", name, got, want)
		}
	}
}

// TestAttachmentFuncContentError: an error that comes from reading the
// content (a damaged encoding, a message cut short) is the part's
// problem, even when the func returns it, wrapped or not: Parse goes on.
func TestAttachmentFuncContentError(t *testing.T) {
	msg := wire(multipartMessage(
		"Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n\naGVs!!bG8=",
		textPart,
	))
	for name, wrap := range map[string]func(error) error{
		"as it is": func(err error) error { return err },
		"wrapped":  func(err error) error { return fmt.Errorf("saving: %w", err) },
	} {
		t.Run(name, func(t *testing.T) {
			m, err := message.ParseWithOptions(strings.NewReader(msg), &message.Options{
				Attachment: func(a *message.Attachment, content io.Reader) error {
					_, err := io.Copy(io.Discard, content)
					if err == nil {
						t.Error("reading damaged base64 gave no error")
					}
					return wrap(err)
				},
			})
			checkProblems(t, err, wantProblem{Part: "1", Text: "content cut after 3 bytes: base64: characters outside the alphabet"})
			if m.Text != "the text" || len(m.Attachments) != 1 || m.Attachments[0].Size != 3 {
				t.Errorf("text %q, attachments %+v: want Parse to go on", m.Text, m.Attachments)
			}
		})
	}
}

// failingReader yields r, then err instead of its end.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		err = f.err
	}
	return n, err
}

// TestReadError: an error from the reader stops Parse, which returns it
// (not a ParseError), with what it read before.
func TestReadError(t *testing.T) {
	errConn := errors.New("connection reset")
	full := threeAttachments
	for _, at := range []int{0, 10, len(received) + 30, strings.Index(full, "b.png"), strings.Index(full, "png png") + 1000, len(full) - 5} {
		t.Run(fmt.Sprint(at), func(t *testing.T) {
			var funcErr error
			m, err := message.ParseWithOptions(&failingReader{strings.NewReader(full[:at]), errConn}, &message.Options{
				Attachment: func(a *message.Attachment, content io.Reader) error {
					_, funcErr = io.Copy(io.Discard, content)
					return funcErr
				},
			})
			var perr *message.ParseError
			if !errors.Is(err, errConn) || errors.As(err, &perr) {
				t.Fatalf("error %v, want the reader's", err)
			}
			if m == nil {
				t.Fatal("nil Message")
			}
			if at > len(received)+30 && m.Subject != "test" {
				t.Errorf("Subject %q: what was read before the error is lost", m.Subject)
			}
		})
	}
}
