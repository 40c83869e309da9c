package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ownmx/ownmx/internal/pgtest"
	"github.com/ownmx/ownmx/store/postgres"
)

// retried is a message as two MX hosts store it: the same message from
// the sender, each host's own Received field on top.
func retried(host, msgID, body string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "Received: from client.example.org by %s with ESMTP id %s-1; Tue, 1 Apr 2025 10:00:00 +0000\r\n", host, host)
	b.WriteString("From: Alice <alice@example.org>\r\nTo: rcpt@example.com\r\nSubject: the report\r\n")
	if msgID != "" {
		fmt.Fprintf(&b, "Message-ID: <%s>\r\n", msgID)
	}
	b.WriteString("\r\n" + body)
	return []byte(b.String())
}

// stored counts what the database holds: messages and mailbox entries.
func stored(t *testing.T, url string) (messages, entries int64) {
	t.Helper()
	db := sqlDB(t, url)
	return count(t, db, `SELECT count(*) FROM mail_messages`), count(t, db, `SELECT count(*) FROM mail_entries`)
}

func TestDedup(t *testing.T) {
	cases := []struct {
		name                    string
		first, second           []byte
		rcpt1, rcpt2            []string
		window                  time.Duration
		wantMessages, wantInbox int
		duplicate               bool
	}{
		{
			name:  "same message twice",
			first: retried("mx1", "r1@example.org", "body\r\n"), second: retried("mx1", "r1@example.org", "body\r\n"),
			wantMessages: 1, wantInbox: 1, duplicate: true,
		},
		{
			name:  "retried to the other MX: header differs",
			first: retried("mx1", "r2@example.org", "body\r\n"), second: retried("mx2", "r2@example.org", "body\r\n"),
			wantMessages: 1, wantInbox: 1, duplicate: true,
		},
		{
			name:  "same Message-ID, other body",
			first: retried("mx1", "r3@example.org", "body\r\n"), second: retried("mx2", "r3@example.org", "body, edited\r\n"),
			wantMessages: 2, wantInbox: 2,
		},
		{
			name:  "same body, other Message-ID",
			first: retried("mx1", "r4a@example.org", "body\r\n"), second: retried("mx2", "r4b@example.org", "body\r\n"),
			wantMessages: 2, wantInbox: 2,
		},
		{
			name:  "no Message-ID",
			first: retried("mx1", "", "body\r\n"), second: retried("mx1", "", "body\r\n"),
			wantMessages: 2, wantInbox: 2,
		},
		{
			name:  "no end of header",
			first: []byte("Message-ID: <r5@example.org>\r\nSubject: all header\r\n"), second: []byte("Message-ID: <r5@example.org>\r\nSubject: all header\r\n"),
			wantMessages: 2, wantInbox: 2,
		},
		{
			name:  "after the window",
			first: retried("mx1", "r6@example.org", "body\r\n"), second: retried("mx2", "r6@example.org", "body\r\n"),
			window:       time.Hour,
			wantMessages: 2, wantInbox: 2,
		},
		{
			name:  "deduplication off",
			first: retried("mx1", "r7@example.org", "body\r\n"), second: retried("mx1", "r7@example.org", "body\r\n"),
			window:       -1,
			wantMessages: 2, wantInbox: 2,
		},
		{
			// A sender whose transaction took only some recipients (452 at
			// the hundredth) sends the same message again to the rest.
			name:  "the other recipients in a transaction of their own",
			first: retried("mx1", "r8@example.org", "body\r\n"), second: retried("mx1", "r8@example.org", "body\r\n"),
			rcpt1: []string{"rcpt@example.com"}, rcpt2: []string{"rcpt@example.com", "other@example.com"},
			wantMessages: 1, wantInbox: 1, duplicate: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs logBuffer
			clock := time.Date(2025, 4, 1, 10, 0, 0, 0, time.UTC)
			s, url := newStore(t, &postgres.Options{
				DedupWindow: tc.window,
				Logger:      slog.New(slog.NewTextHandler(&logs, nil)),
				Now:         func() time.Time { return clock },
			})
			deliver(t, s, env(tc.rcpt1...), tc.first)
			clock = clock.Add(2 * time.Hour)
			deliver(t, s, env(tc.rcpt2...), tc.second)

			messages, _ := stored(t, url)
			if messages != int64(tc.wantMessages) {
				t.Errorf("the database holds %d messages, want %d", messages, tc.wantMessages)
			}
			inbox := list(t, s, "rcpt@example.com", postgres.Inbox)
			if len(inbox) != tc.wantInbox {
				t.Errorf("the inbox holds %d messages, want %d", len(inbox), tc.wantInbox)
			}
			if len(inbox) > 0 {
				// The copy kept is the first, byte for byte.
				if got := read(t, s, inbox[len(inbox)-1].ID); !bytes.Equal(got, tc.first) {
					t.Errorf("the oldest message reads back as %q, want %q", got, tc.first)
				}
			}
			if len(tc.rcpt2) > 1 {
				other := list(t, s, "other@example.com", postgres.Inbox)
				if len(other) != 1 {
					t.Fatalf("the second transaction's other recipient got %d messages, want 1", len(other))
				}
				if got := read(t, s, other[0].ID); !bytes.Equal(got, tc.first) {
					t.Errorf("the other recipient's copy reads back as %q", got)
				}
			}
			if got := strings.Contains(logs.String(), "msg=duplicate"); got != tc.duplicate {
				t.Errorf("the log says duplicate: %v, want %v; log:\n%s", got, tc.duplicate, logs.String())
			}
		})
	}
}

// TestDedupRace has two hosts (two Stores) store one message at the same
// moment: both have written its bytes and neither has committed when they
// claim its key, and the database holds it once.
func TestDedupRace(t *testing.T) {
	url := pgtest.Shared(t)
	hosts := []*postgres.Store{openStore(t, url, nil), openStore(t, url, nil)}
	const rounds = 5
	for round := range rounds {
		msgID := fmt.Sprintf("race%d@example.org", round)
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		gates := make([]*gate, len(hosts))
		errs := make([]error, len(hosts))
		var wg sync.WaitGroup
		for i, h := range hosts {
			msg := retried(fmt.Sprintf("mx%d", i), msgID, strings.Repeat("the same body\r\n", 20000))
			// Each host stops at the end of the message, its transaction
			// open, until both have come that far.
			gates[i] = newGate(ctx, msg, nil)
			wg.Go(func() { errs[i] = h.Deliver(ctx, env(), gates[i]) })
		}
		for _, g := range gates {
			<-g.reached
		}
		for _, g := range gates {
			close(g.release)
		}
		wg.Wait()
		cancel()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: host %d: Deliver: %v", round, i, err)
			}
		}
	}
	messages, entries := stored(t, url)
	if messages != rounds || entries != rounds {
		t.Errorf("after %d messages each delivered by two hosts at once, the database holds %d messages and %d entries, want %d and %d",
			rounds, messages, entries, rounds, rounds)
	}
	if n := len(list(t, hosts[0], "rcpt@example.com", postgres.Inbox)); n != rounds {
		t.Errorf("the inbox holds %d messages, want %d", n, rounds)
	}
}

// TestDedupPrune checks that keys older than the window are removed as
// later messages come, so that mail_dedup holds about a window's worth.
func TestDedupPrune(t *testing.T) {
	clock := time.Date(2025, 4, 1, 10, 0, 0, 0, time.UTC)
	s, url := newStore(t, &postgres.Options{DedupWindow: time.Hour, Now: func() time.Time { return clock }})
	const old = 5
	for i := range old {
		deliver(t, s, env(), retried("mx1", fmt.Sprintf("old%d@example.org", i), "body\r\n"))
	}
	db := sqlDB(t, url)
	if n := count(t, db, `SELECT count(*) FROM mail_dedup`); n != old {
		t.Fatalf("mail_dedup holds %d keys, want %d", n, old)
	}
	clock = clock.Add(2 * time.Hour)
	for i := range postgres.PruneEvery {
		deliver(t, s, env(), retried("mx1", fmt.Sprintf("new%d@example.org", i), "body\r\n"))
	}
	if n := count(t, db, `SELECT count(*) FROM mail_dedup`); n != postgres.PruneEvery {
		t.Errorf("after the window and %d more messages, mail_dedup holds %d keys, want %d (the new ones)",
			postgres.PruneEvery, n, postgres.PruneEvery)
	}
	if n := len(list(t, s, "rcpt@example.com", postgres.Inbox)); n != old+postgres.PruneEvery {
		t.Errorf("the inbox holds %d messages, want all %d", n, old+postgres.PruneEvery)
	}
}
