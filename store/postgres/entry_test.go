package postgres_test

import (
	"errors"
	"io"
	"testing"

	"github.com/ownmx/ownmx/store/postgres"
)

func TestJunk(t *testing.T) {
	s, _ := newStore(t, nil)
	e := env()
	e.Quarantine = true
	body := []byte("Subject: suspicious\r\n\r\nbody\r\n")
	deliver(t, s, e, body)
	deliver(t, s, env(), []byte("Subject: fine\r\n\r\nbody\r\n"))
	if got := subjects(list(t, s, "rcpt@example.com", postgres.Junk)); len(got) != 1 || got[0] != "suspicious" {
		t.Errorf("Junk holds %v, want [suspicious]", got)
	}
	if got := subjects(list(t, s, "rcpt@example.com", postgres.Inbox)); len(got) != 1 || got[0] != "fine" {
		t.Errorf("Inbox holds %v, want [fine]", got)
	}
}

// TestOneEntryPerMailbox delivers to several spellings of one address:
// the mailbox gets the message once.
func TestOneEntryPerMailbox(t *testing.T) {
	s, _ := newStore(t, nil)
	deliver(t, s, env("me+a@example.com", "me+b@example.com", "ME@Example.COM", "other@example.com"), []byte("Subject: x\r\n\r\n"))
	for mailbox, want := range map[string]int{"me@example.com": 1, "other@example.com": 1} {
		if got := len(list(t, s, mailbox, postgres.Inbox)); got != want {
			t.Errorf("%s holds %d messages, want %d", mailbox, got, want)
		}
	}
}

func TestMarkSeen(t *testing.T) {
	s, _ := newStore(t, nil)
	deliver(t, s, env("a@example.com", "b@example.com"), []byte("Subject: x\r\n\r\n"))
	a := list(t, s, "a@example.com", postgres.Inbox)[0]
	if a.Seen {
		t.Fatalf("a new message is seen")
	}
	for range 2 { // marking twice is no error
		if err := s.MarkSeen(t.Context(), a.ID); err != nil {
			t.Fatalf("MarkSeen: %v", err)
		}
	}
	if !list(t, s, "a@example.com", postgres.Inbox)[0].Seen {
		t.Errorf("after MarkSeen, the message is not seen")
	}
	if list(t, s, "b@example.com", postgres.Inbox)[0].Seen {
		t.Errorf("MarkSeen in one mailbox marked the other recipient's copy too")
	}
}

func TestMove(t *testing.T) {
	s, _ := newStore(t, nil)
	deliver(t, s, env(), []byte("Subject: older\r\n\r\n"))
	body := []byte("Subject: moved\r\n\r\nbody\r\n")
	deliver(t, s, env(), body)
	deliver(t, s, env(), []byte("Subject: newer\r\n\r\n"))
	inbox := list(t, s, "rcpt@example.com", postgres.Inbox)
	moved := inbox[1]
	if err := s.MarkSeen(t.Context(), moved.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Move(t.Context(), moved.ID, postgres.Junk); err != nil {
		t.Fatalf("Move to Junk: %v", err)
	}
	if got := subjects(list(t, s, "rcpt@example.com", postgres.Inbox)); len(got) != 2 || got[0] != "newer" || got[1] != "older" {
		t.Errorf("Inbox after the move to Junk: %v", got)
	}
	junk := list(t, s, "rcpt@example.com", postgres.Junk)
	if len(junk) != 1 || junk[0].ID != moved.ID || !junk[0].Seen || junk[0].Folder != postgres.Junk {
		t.Fatalf("Junk after the move: %+v", junk)
	}
	if got := read(t, s, moved.ID); string(got) != string(body) {
		t.Errorf("the moved message reads back as %q", got)
	}
	if err := s.Move(t.Context(), moved.ID, postgres.Inbox); err != nil {
		t.Fatalf("Move back to Inbox: %v", err)
	}
	if got := subjects(list(t, s, "rcpt@example.com", postgres.Inbox)); len(got) != 3 || got[1] != "moved" {
		t.Errorf("Inbox after the move back: %v, want the message in its place by date", got)
	}
	if got := list(t, s, "rcpt@example.com", postgres.Junk); len(got) != 0 {
		t.Errorf("Junk after the move back holds %d messages", len(got))
	}
}

func TestDelete(t *testing.T) {
	s, url := newStore(t, nil)
	db := sqlDB(t, url)
	body := make([]byte, 2*postgres.ChunkSize+10) // three chunks
	copy(body, "Subject: shared\r\n\r\n")
	deliver(t, s, env("a@example.com", "b@example.com"), body)
	deliver(t, s, env("a@example.com"), []byte("Subject: other\r\n\r\n"))
	a := list(t, s, "a@example.com", postgres.Inbox)
	b := list(t, s, "b@example.com", postgres.Inbox)

	if err := s.Delete(t.Context(), a[1].ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if got := subjects(list(t, s, "a@example.com", postgres.Inbox)); len(got) != 1 || got[0] != "other" {
		t.Errorf("a's inbox after Delete: %v", got)
	}
	// b's entry still refers to the bytes: they stay.
	if got := read(t, s, b[0].ID); string(got) != string(body) {
		t.Errorf("b's copy after a deleted hers reads back %d bytes, not the %d delivered", len(got), len(body))
	}
	if n := count(t, db, `SELECT count(*) FROM mail_chunks`); n != 4 {
		t.Errorf("mail_chunks holds %d rows, want 4", n)
	}
	if err := s.Delete(t.Context(), b[0].ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	// No entry refers to it any more: its bytes are gone.
	if m, c := count(t, db, `SELECT count(*) FROM mail_messages`), count(t, db, `SELECT count(*) FROM mail_chunks`); m != 1 || c != 1 {
		t.Errorf("after both entries are deleted the database holds %d messages and %d chunks, want 1 and 1 (the other message)", m, c)
	}
	for name, op := range map[string]func(id int64) error{
		"Delete":   func(id int64) error { return s.Delete(t.Context(), id) },
		"MarkSeen": func(id int64) error { return s.MarkSeen(t.Context(), id) },
		"Move":     func(id int64) error { return s.Move(t.Context(), id, postgres.Junk) },
		"Open":     func(id int64) error { _, err := s.Open(t.Context(), id); return err },
	} {
		for _, id := range []int64{b[0].ID, 0, -1, 1 << 62} {
			if err := op(id); !errors.Is(err, postgres.ErrNotFound) {
				t.Errorf("%s(%d) of no entry: err = %v, want ErrNotFound", name, id, err)
			}
		}
	}
}

// TestDeleteWhileReading deletes a message while a reader is in the middle
// of it: the reader fails with ErrNotFound rather than return a short
// message as if whole.
func TestDeleteWhileReading(t *testing.T) {
	s, _ := newStore(t, nil)
	if err := s.Deliver(t.Context(), env(), oneShot(&patternReader{n: 3 * postgres.ChunkSize})); err != nil {
		t.Fatal(err)
	}
	id := list(t, s, "rcpt@example.com", postgres.Inbox)[0].ID
	rc, err := s.Open(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, make([]byte, postgres.ChunkSize+1)); err != nil {
		t.Fatalf("reading the first bytes: %v", err)
	}
	if err := s.Delete(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, rc)
	if !errors.Is(err, postgres.ErrNotFound) {
		t.Errorf("reading on after Delete: %d bytes, err = %v; want ErrNotFound", n, err)
	}
}
