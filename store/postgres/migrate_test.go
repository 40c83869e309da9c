package postgres_test

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ownmx/ownmx/internal/pgtest"
	"github.com/ownmx/ownmx/store/postgres"
)

// latestVersion is the number of the last file in migrations/.
const latestVersion = 2

func TestMigrateEmpty(t *testing.T) {
	s, url := newStore(t, nil)
	db := sqlDB(t, url)
	if v := count(t, db, `SELECT version FROM mail_schema_version`); v != latestVersion {
		t.Errorf("schema version %d, want %d", v, latestVersion)
	}
	for _, table := range []string{"mail_messages", "mail_chunks", "mail_entries", "mail_dedup"} {
		if n := count(t, db, `SELECT count(*) FROM pg_tables WHERE tablename = $1`, table); n != 1 {
			t.Errorf("table %s missing", table)
		}
	}
	if err := s.Migrate(t.Context()); err != nil {
		t.Errorf("Migrate again: %v", err)
	}
	if v := count(t, db, `SELECT version FROM mail_schema_version`); v != latestVersion {
		t.Errorf("schema version %d after a second Migrate, want %d", v, latestVersion)
	}
	deliver(t, s, env(), []byte("Message-ID: <m@example.org>\r\nSubject: works\r\n\r\nbody\r\n"))
	deliver(t, s, env(), []byte("Message-ID: <m@example.org>\r\nSubject: works\r\n\r\nbody\r\n"))
	if got := subjects(list(t, s, "rcpt@example.com", postgres.Inbox)); len(got) != 1 {
		t.Errorf("after migrating an empty database and delivering one message twice, the inbox holds %v", got)
	}
}

// TestMigrateFromVersion1 migrates a database at version 1 that holds
// mail, written in the shape of version 1, and reads that mail back
// through the Store at the latest version.
func TestMigrateFromVersion1(t *testing.T) {
	url := pgtest.Shared(t)
	if err := postgres.MigrateTo(t.Context(), url, 1); err != nil {
		t.Fatalf("migrating to version 1: %v", err)
	}
	db := sqlDB(t, url)
	if n := count(t, db, `SELECT count(*) FROM pg_tables WHERE tablename = 'mail_dedup'`); n != 0 {
		t.Fatalf("mail_dedup exists at version 1")
	}
	received := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	body := "From: Old <old@example.org>\r\nSubject: from version 1\r\nMessage-ID: <v1@example.org>\r\n\r\nkept\r\n"
	_, err := db.Exec(t.Context(), `
		WITH m AS (
			INSERT INTO mail_messages (received, envelope_from, size, header_from, subject)
			VALUES ($1, 'old@example.org', $2, 'Old <old@example.org>', 'from version 1') RETURNING id
		), c AS (
			INSERT INTO mail_chunks (message, seq, data)
			SELECT id, 0, substr($3::bytea, 1, 40) FROM m UNION ALL SELECT id, 1, substr($3::bytea, 41) FROM m
		)
		INSERT INTO mail_entries (message, mailbox, folder, received, seen)
		SELECT id, 'rcpt@example.com', 'INBOX', $1, true FROM m`,
		received, len(body), []byte(body))
	if err != nil {
		t.Fatalf("inserting mail in the shape of version 1: %v", err)
	}

	clock := received.Add(time.Hour)
	s := openStore(t, url, &postgres.Options{Now: func() time.Time { return clock }})
	if v := count(t, db, `SELECT version FROM mail_schema_version`); v != latestVersion {
		t.Errorf("schema version %d after Open, want %d", v, latestVersion)
	}
	inbox := list(t, s, "rcpt@example.com", postgres.Inbox)
	if len(inbox) != 1 {
		t.Fatalf("after the migration the inbox holds %d messages, want the 1 of version 1", len(inbox))
	}
	want := postgres.Summary{ID: inbox[0].ID, Mailbox: "rcpt@example.com", Folder: postgres.Inbox, Received: received,
		Size: int64(len(body)), From: "Old <old@example.org>", Subject: "from version 1", Seen: true}
	if got := inbox[0]; !got.Received.Equal(want.Received) || got.Received.IsZero() {
		t.Errorf("Received = %v, want %v", got.Received, want.Received)
	} else if got.Received = want.Received; got != want {
		t.Errorf("the summary of the old message:\n got %+v\nwant %+v", got, want)
	}
	if got := read(t, s, inbox[0].ID); string(got) != body {
		t.Errorf("the old message reads back as %q", got)
	}
	// New mail goes in beside it.
	deliver(t, s, env(), []byte("Subject: new\r\n\r\n"))
	if got := subjects(list(t, s, "rcpt@example.com", postgres.Inbox)); len(got) != 2 || got[0] != "new" {
		t.Errorf("the inbox after a new delivery: %v", got)
	}
}

// TestMigrateConcurrently opens Stores on one empty database at once, as
// hosts that start together do: the advisory lock has them migrate one
// after the other, and all of them open.
func TestMigrateConcurrently(t *testing.T) {
	url := pgtest.Shared(t)
	const hosts = 4
	errs := make([]error, hosts)
	var wg sync.WaitGroup
	for i := range hosts {
		wg.Go(func() {
			s, err := postgres.Open(t.Context(), url, &postgres.Options{Logger: slog.New(slog.DiscardHandler)})
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("host %d: Open: %v", i, err)
		}
	}
	if v := count(t, sqlDB(t, url), `SELECT version FROM mail_schema_version`); v != latestVersion {
		t.Errorf("schema version %d, want %d", v, latestVersion)
	}
}

// TestMigrateNewer refuses a database that a newer program migrated past
// what this one knows.
func TestMigrateNewer(t *testing.T) {
	url := pgtest.Shared(t)
	openStore(t, url, nil).Close()
	db := sqlDB(t, url)
	if _, err := db.Exec(t.Context(), `UPDATE mail_schema_version SET version = $1`, latestVersion+1); err != nil {
		t.Fatal(err)
	}
	s, err := postgres.Open(t.Context(), url, &postgres.Options{Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		s.Close()
		t.Fatalf("Open of a database at version %d succeeded", latestVersion+1)
	}
	if want := fmt.Sprintf("version %d, newer than this program's %d", latestVersion+1, latestVersion); !strings.Contains(err.Error(), want) {
		t.Errorf("Open: %v; want it to say %q", err, want)
	}
}
