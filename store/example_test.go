package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/store"
)

func ExampleMailboxes_Mailbox() {
	boxes := &store.Mailboxes{Root: "/var/mail", Domains: []string{"example.com"}, Users: []string{"me"}}
	for _, addr := range []string{"me@example.com", "Me+Shop@Example.COM", "postmaster@example.com", "you@example.com", "../x@example.com", "me@example.net"} {
		dir, err := boxes.Mailbox(addr)
		switch {
		case errors.Is(err, smtpd.ErrNoSuchUser):
			fmt.Printf("%-24s refused: 550 5.1.1\n", addr)
		case errors.Is(err, smtpd.ErrRelayDenied):
			fmt.Printf("%-24s refused: 550 5.7.1\n", addr)
		default:
			fmt.Printf("%-24s %s\n", addr, dir)
		}
	}
	// Output:
	// me@example.com           /var/mail/example.com/me
	// Me+Shop@Example.COM      /var/mail/example.com/me
	// postmaster@example.com   /var/mail/example.com/postmaster
	// you@example.com          refused: 550 5.1.1
	// ../x@example.com         refused: 550 5.1.1
	// me@example.net           refused: 550 5.7.1
}

func ExampleMaildir() {
	dir, err := os.MkdirTemp("", "example-maildir-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	md := &store.Maildir{Dir: filepath.Join(dir, "Maildir")}
	env := &smtpd.Envelope{From: "a@example.org", Rcpt: []string{"me@example.com"}}
	if err := md.Deliver(context.Background(), env, strings.NewReader("Subject: hi\r\n\r\nhello\r\n")); err != nil {
		fmt.Println(err)
		return
	}
	env.Quarantine = true
	if err := md.Deliver(context.Background(), env, strings.NewReader("Subject: spam?\r\n\r\n")); err != nil {
		fmt.Println(err)
		return
	}
	for _, sub := range []string{"new", ".Junk/new"} {
		ents, _ := os.ReadDir(filepath.Join(md.Dir, sub))
		fmt.Println(sub, len(ents))
	}
	// Output:
	// new 1
	// .Junk/new 1
}
