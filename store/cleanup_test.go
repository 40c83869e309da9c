package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ownmx/ownmx/smtpd"
)

// errInjected is the failure the tests inject.
var errInjected = errors.New("injected failure")

// failAfter yields n bytes of message, then errInjected.
type failAfter struct{ n int }

func (r *failAfter) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errInjected
	}
	k := min(len(p), r.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	r.n -= k
	return k, nil
}

// A delivery that fails, while writing (the reader breaks) or while
// linking (a later recipient's mailbox cannot be made), across several
// recipients, new and existing, in new and existing domains, quarantined
// or not, leaves the tree exactly as it found it: every directory it made
// is gone, and every directory that was there (with its inode) stays.
func TestFailedDeliveryRemovesWhatItMade(t *testing.T) {
	rcpts := []string{
		"new1@fresh.example",   // new domain, new mailbox
		"old@example.com",      // existing Maildir, no .Junk yet
		"new2@example.com",     // existing domain, new mailbox
		"half@example.com",     // exists with cur/ only
		"new3@fresh.example",   // the new domain again
		"blocked@example.com",  // a file stands where its Maildir would be
		"never@fresh2.example", // not reached in the link-time case
		"postmaster@example.com" /* not reached */}
	for _, failure := range []string{"reader", "target"} {
		for _, quarantine := range []bool{false, true} {
			for _, mode := range deliveryModes {
				name := fmt.Sprintf("%s/quarantine=%v/%s", failure, quarantine, mode.name)
				t.Run(name, func(t *testing.T) {
					root := filepath.Join(t.TempDir(), "mail")
					mkdir(t, filepath.Join(root, "example.com", "old", "cur"))
					mkdir(t, filepath.Join(root, "example.com", "old", "new"))
					mkdir(t, filepath.Join(root, "example.com", "old", "tmp"))
					mkdir(t, filepath.Join(root, "example.com", "half", "cur"))
					writeFile(t, filepath.Join(root, "example.com", "old", "new", "1.M1P1Q1R0.earlier"))
					writeFile(t, filepath.Join(root, "example.com", "blocked"))
					before := tree(t, root)

					m := &Mailboxes{Root: root, named: mode.named, stepwise: mode.stepwise}
					env := &smtpd.Envelope{Rcpt: rcpts, Quarantine: quarantine}
					var r io.Reader = strings.NewReader("Subject: x\r\n\r\nbody\r\n")
					if failure == "reader" {
						r = &failAfter{n: 100 << 10} // past the first write
					}
					err := m.Deliver(t.Context(), env, r)
					if err == nil {
						t.Fatal("Deliver succeeded; want the injected failure")
					}
					if failure == "reader" && !errors.Is(err, errInjected) {
						t.Fatalf("err = %v, want the reader's", err)
					}
					if failure == "target" && !strings.Contains(err.Error(), filepath.Join(root, "example.com", "blocked")) {
						t.Fatalf("err = %v, want one naming the blocked mailbox", err)
					}
					if after := tree(t, root); !slices.Equal(before, after) {
						t.Errorf("after a failed delivery (%v):\nbefore %q\nafter  %q", err, before, after)
					}
				})
			}
		}
	}
}

// blockingReader signals on started at its first Read, then waits for
// release and returns what it says: the message, or an error.
type blockingReader struct {
	started chan struct{} // closed at the first Read
	release chan error
	body    io.Reader
	began   bool // touched by the reading goroutine only
}

func newBlockingReader(body string) *blockingReader {
	return &blockingReader{started: make(chan struct{}), release: make(chan error, 1), body: strings.NewReader(body)}
}

func (r *blockingReader) Read(p []byte) (int, error) {
	if !r.began {
		r.began = true
		close(r.started)
		if err := <-r.release; err != nil {
			return 0, err
		}
	}
	return r.body.Read(p)
}

// A delivery that fails does not remove a mailbox it made while another
// delivery of this process is at work in it: the other's message lands in
// the same directory, never removed and made again under it.
func TestFailedDeliveryKeepsMailboxInUse(t *testing.T) {
	for _, mode := range deliveryModes {
		t.Run(mode.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "mail")
			m := &Mailboxes{Root: root, named: mode.named, stepwise: mode.stepwise}
			env := &smtpd.Envelope{Rcpt: []string{"new@example.com"}}
			box := filepath.Join(root, "example.com", "new")

			failing := newBlockingReader("")
			failed := make(chan error, 1)
			go func() { failed <- m.Deliver(t.Context(), env, failing) }()
			<-failing.started // it made the mailbox and is writing
			dirs := []string{box, filepath.Join(box, "cur"), filepath.Join(box, "new"), filepath.Join(box, "tmp")}
			infos := make([]os.FileInfo, len(dirs))
			for i, d := range dirs {
				fi, err := os.Stat(d)
				if err != nil {
					t.Fatal(err)
				}
				infos[i] = fi
			}
			unchanged := func(when string) {
				t.Helper()
				for i, d := range dirs {
					if fi, err := os.Stat(d); err != nil || !os.SameFile(infos[i], fi) {
						t.Errorf("%s: %s was removed (and made again?) under a delivery using it (err %v)", when, d, err)
					}
				}
			}

			other := newBlockingReader("Subject: the other\r\n\r\n")
			done := make(chan error, 1)
			go func() { done <- m.Deliver(t.Context(), env, other) }()
			<-other.started

			failing.release <- errInjected
			if err := <-failed; !errors.Is(err, errInjected) {
				t.Fatalf("first delivery: err = %v, want the injected failure", err)
			}
			unchanged("after the first delivery failed")
			other.release <- nil
			if err := <-done; err != nil {
				t.Fatalf("second delivery: %v", err)
			}
			if got := readNew(t, box); len(got) != 1 || got[0] != "Subject: the other\r\n\r\n" {
				t.Errorf("new/ holds %q, want the second message", got)
			}
			unchanged("after the second delivery")
		})
	}
}

// A delivery that fails keeps a Maildir it made if a message arrived in its
// new/ meanwhile from elsewhere (another process, which this one cannot
// see at work): the whole Maildir stays, not only new/.
func TestFailedDeliveryKeepsFolderUsedElsewhere(t *testing.T) {
	for _, quarantine := range []bool{false, true} {
		for _, mode := range deliveryModes {
			t.Run(fmt.Sprintf("quarantine=%v/%s", quarantine, mode.name), func(t *testing.T) {
				root := filepath.Join(t.TempDir(), "mail")
				m := &Mailboxes{Root: root, named: mode.named, stepwise: mode.stepwise}
				env := &smtpd.Envelope{Rcpt: []string{"new@example.com"}, Quarantine: quarantine}
				folder := filepath.Join(root, "example.com", "new")
				if quarantine {
					folder = filepath.Join(folder, Junk)
				}
				failing := newBlockingReader("")
				failed := make(chan error, 1)
				go func() { failed <- m.Deliver(t.Context(), env, failing) }()
				<-failing.started
				writeFile(t, filepath.Join(folder, "new", "1.M1P1Q1R0.elsewhere"))
				// All but the failing delivery's own file in tmp/ stays.
				before := slices.DeleteFunc(tree(t, root), func(e string) bool {
					return strings.HasPrefix(e, "f ") && strings.Contains(e, "/tmp/")
				})
				failing.release <- errInjected
				if err := <-failed; !errors.Is(err, errInjected) {
					t.Fatalf("err = %v, want the injected failure", err)
				}
				if after := tree(t, root); !slices.Equal(before, after) {
					t.Errorf("the failed delivery took away parts of a Maildir in use:\nbefore %q\nafter  %q", before, after)
				}
			})
		}
	}
}
