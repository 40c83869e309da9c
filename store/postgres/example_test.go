package postgres_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ownmx/ownmx/internal/pgtest"
	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/store/postgres"
)

// Example stores a message and reads it back as a mail client would. It
// needs a database (DATABASE_URL): TestExample runs it.
func Example() {
	ctx := context.Background()
	st, err := postgres.Open(ctx, os.Getenv("DATABASE_URL"), &postgres.Options{
		Domains: []string{"example.com"},
		Users:   []string{"me"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	// What a server's Data handler does (store.Handler(st)): 250 after this.
	env := &smtpd.Envelope{From: "alice@example.org", Rcpt: []string{"me+lunch@example.com"}}
	msg := "From: Alice <alice@example.org>\r\nSubject: Lunch?\r\nMessage-ID: <1@example.org>\r\n\r\nNoon at the usual place.\r\n"
	if err := st.Deliver(ctx, env, strings.NewReader(msg)); err != nil {
		log.Fatal(err)
	}

	// The inbox, newest first, twenty at a time.
	mailbox, err := st.Mailbox("me@example.com") // "me@example.com"
	if err != nil {
		log.Fatal(err)
	}
	var newest *postgres.Summary
	for page := (postgres.Page{Size: 20}); !page.Done(); {
		sums, next, err := st.List(ctx, mailbox, postgres.Inbox, page)
		if err != nil {
			log.Fatal(err)
		}
		for _, m := range sums {
			fmt.Printf("%s  %-32s  %s\n", m.Received.Local().Format(time.DateTime), m.From, m.Subject)
			if newest == nil {
				newest = &m
			}
		}
		page = next
	}

	// Open the newest message, show it, and mark it seen.
	rc, err := st.Open(ctx, newest.ID)
	if err != nil {
		log.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.Copy(os.Stdout, rc); err != nil {
		log.Fatal(err)
	}
	if err := st.MarkSeen(ctx, newest.ID); err != nil {
		log.Fatal(err)
	}
}

// TestExample runs Example against a database of its own, since go test
// does not run an Example without an Output comment, and checks what it
// printed and left.
func TestExample(t *testing.T) {
	url := pgtest.Shared(t)
	t.Setenv("DATABASE_URL", url)
	out, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	stdout := os.Stdout
	os.Stdout = out
	Example()
	os.Stdout = stdout
	printed, err := os.ReadFile(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"  Alice <alice@example.org>  ", "  Lunch?\n", "\r\n\r\nNoon at the usual place.\r\n"} {
		if !strings.Contains(string(printed), want) {
			t.Errorf("Example printed %q, without %q", printed, want)
		}
	}
	s := openStore(t, url, nil)
	if inbox := list(t, s, "me@example.com", postgres.Inbox); len(inbox) != 1 || !inbox[0].Seen {
		t.Errorf("after Example the inbox holds %+v, want one message, seen", inbox)
	}
}
