package main

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/ownmx/ownmx/dnsx/dnstest"
)

// TestNewMailboxBounds runs the inbox with -max-mailboxes 3 and no -users:
// three new addresses get their mailboxes, a fourth is turned away at RCPT
// with 450 4.2.1, and an existing one still gets 250 and its message, in
// the same transaction; nothing is left in tmp/.
func TestNewMailboxBounds(t *testing.T) {
	dns := dnstest.NewServer(t, testZone())
	root := filepath.Join(t.TempDir(), "mail")
	s := start(t, "-domain", "inbox.test", "-maildir", root, "-dns", dns.Addr, "-max-mailboxes", "3")
	c := dial(t, s.addr)
	for _, user := range []string{"ann", "bob", "cat"} {
		msg := message("alice@good.example.org", "first-"+user, body)
		if err := send(c, "alice@good.example.org", user+"@inbox.test", msg); err != nil {
			t.Fatalf("message to new mailbox %s: %v", user, err)
		}
	}

	if err := c.Mail("alice@good.example.org", nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "RCPT of a fourth new mailbox", c.Rcpt("dan@inbox.test", nil), 450, "4.2.1")
	for _, rcpt := range []string{"bob@inbox.test", "postmaster@inbox.test"} {
		if err := c.Rcpt(rcpt, nil); err != nil {
			t.Fatalf("RCPT %s past the bound: %v", rcpt, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, message("alice@good.example.org", "second-bob", body)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("DATA to an existing mailbox past the bound: %v", err)
	}
	find(t, filepath.Join(root, "inbox.test", "bob", "new"), "second-bob@")
	find(t, filepath.Join(root, "inbox.test", "postmaster", "new"), "second-bob@")
	if _, err := os.Stat(filepath.Join(root, "inbox.test", "dan")); !os.IsNotExist(err) {
		t.Errorf("a mailbox was made for the refused address (stat: %v)", err)
	}
	for _, box := range []string{"ann", "bob", "cat", "postmaster"} {
		if left := files(t, filepath.Join(root, "inbox.test", box, "tmp")); len(left) != 0 {
			t.Errorf("%s/tmp holds %d files", box, len(left))
		}
	}
	if s.waitLog(regexp.MustCompile(`msg=refused .*reply="450 4\.2\.1 .*MaxMailboxes`), 10*time.Second) == nil {
		t.Errorf("no log line for the refused new mailbox")
	}
}

// TestMailboxSymlink runs the inbox with a mailbox that is a symbolic link
// to a directory outside -maildir: the message is deferred with 451, the
// log names the link, and nothing is written through it.
func TestMailboxSymlink(t *testing.T) {
	dns := dnstest.NewServer(t, testZone())
	base := t.TempDir()
	root := filepath.Join(base, "mail")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(root, "inbox.test"), filepath.Join(outside, "cur"), filepath.Join(outside, "new"), filepath.Join(outside, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(root, "inbox.test", "eve")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	s := start(t, "-domain", "inbox.test", "-maildir", root, "-dns", dns.Addr)
	err := send(dial(t, s.addr), "alice@good.example.org", "eve@inbox.test", message("alice@good.example.org", "via-link", body))
	wantCode(t, "DATA for a mailbox that is a link", err, 451, "4.3.0")
	quoted := regexp.QuoteMeta(link)
	if s.waitLog(regexp.MustCompile(`msg=refused .*reply="451 4\.3\.0 .*err=".*`+quoted+`: store: symbolic link`), 10*time.Second) == nil {
		t.Errorf("no log line naming the link %s", link)
	}
	for _, sub := range []string{"cur", "new", "tmp"} {
		if got := files(t, filepath.Join(outside, sub)); len(got) != 0 {
			t.Errorf("%d files written through the link into %s", len(got), sub)
		}
	}
	if err := os.Remove(link); err != nil { // anywhere would read the link as a file
		t.Fatal(err)
	}
	if got := anywhere(t, base, "via-link@"); len(got) != 0 {
		t.Errorf("the message was stored: %v", got)
	}
}

// TestInternationalRecipientDomain (issue 10): a recipient domain spelled
// with U+212A KELVIN SIGN, or in full-width letters, is the domain it
// folds to under IDNA: the server accepts it at RCPT and the store files
// the message under that domain's ASCII name; one that does not convert
// is refused at RCPT. RCPT and DATA never disagree.
func TestInternationalRecipientDomain(t *testing.T) {
	dns := dnstest.NewServer(t, testZone())
	root := filepath.Join(t.TempDir(), "mail")
	s := start(t, "-domain", "kx.test", "-maildir", root, "-dns", dns.Addr)
	c := dial(t, s.addr)
	for i, rcpt := range []string{"postmaster@\u212ax.test", "me@\u212aX.test", "me@\uff4b\uff58.test"} {
		id := "idn-" + strconv.Itoa(i)
		if err := c.Mail("alice@good.example.org", &smtp.MailOptions{UTF8: true}); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt(rcpt, nil); err != nil {
			t.Fatalf("RCPT %q: %v", rcpt, err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, message("alice@good.example.org", id, body))
		if err := w.Close(); err != nil {
			t.Fatalf("DATA to %q: %v", rcpt, err)
		}
		local, _, _ := strings.Cut(rcpt, "@")
		find(t, filepath.Join(root, "kx.test", local, "new"), id+"@")
	}
	if err := c.Mail("alice@good.example.org", &smtp.MailOptions{UTF8: true}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "RCPT at a domain that does not convert", c.Rcpt("me@xn--zz.test", nil), 550, "5.7.1")
}
