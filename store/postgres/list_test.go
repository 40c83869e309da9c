package postgres_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ownmx/ownmx/store/postgres"
)

// subjects returns the subjects of sums, in order.
func subjects(sums []postgres.Summary) []string {
	var s []string
	for _, sum := range sums {
		s = append(s, sum.Subject)
	}
	return s
}

func numbered(from, to int) []string {
	var s []string
	for i := from; i >= to; i-- {
		s = append(s, fmt.Sprintf("m%02d", i))
	}
	return s
}

// TestListPages delivers 25 messages and reads them in pages of 10: 10,
// 10, 5, newest first, then Done; with a clock that ticks and with one
// that stands still (every message at one time: the ID orders them).
func TestListPages(t *testing.T) {
	for _, tick := range []time.Duration{time.Second, 0} {
		t.Run(fmt.Sprintf("tick %v", tick), func(t *testing.T) {
			clock := time.Date(2025, 4, 1, 10, 0, 0, 0, time.UTC)
			s, _ := newStore(t, &postgres.Options{Now: func() time.Time { return clock }})
			send := func(i int) {
				deliver(t, s, env(), fmt.Appendf(nil, "Subject: m%02d\r\n\r\nbody\r\n", i))
				clock = clock.Add(tick)
			}
			for i := 1; i <= 25; i++ {
				send(i)
			}
			page := postgres.Page{Size: 10}
			var got [][]string
			for range 10 { // bounded: 3 pages expected
				sums, next, err := s.List(t.Context(), "rcpt@example.com", postgres.Inbox, page)
				if err != nil {
					t.Fatalf("List: %v", err)
				}
				got = append(got, subjects(sums))
				if next.Done() {
					break
				}
				page = next
			}
			want := [][]string{numbered(25, 16), numbered(15, 6), numbered(5, 1)}
			if !slices.EqualFunc(got, want, slices.Equal) {
				t.Errorf("pages:\n got %v\nwant %v", got, want)
			}
		})
	}
}

// TestListStable checks that messages delivered between two pages do not
// shift the pages that follow: no message is repeated or skipped, and the
// new ones are on the first page of a new listing.
func TestListStable(t *testing.T) {
	clock := time.Date(2025, 4, 1, 10, 0, 0, 0, time.UTC)
	s, _ := newStore(t, &postgres.Options{Now: func() time.Time { clock = clock.Add(time.Second); return clock }})
	send := func(i int) { deliver(t, s, env(), fmt.Appendf(nil, "Subject: m%02d\r\n\r\nbody\r\n", i)) }
	for i := 1; i <= 25; i++ {
		send(i)
	}
	first, next, err := s.List(t.Context(), "rcpt@example.com", postgres.Inbox, postgres.Page{Size: 10})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	for i := 26; i <= 28; i++ {
		send(i)
	}
	second, next, err := s.List(t.Context(), "rcpt@example.com", postgres.Inbox, next)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	send(29)
	third, next, err := s.List(t.Context(), "rcpt@example.com", postgres.Inbox, next)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	got := [][]string{subjects(first), subjects(second), subjects(third)}
	want := [][]string{numbered(25, 16), numbered(15, 6), numbered(5, 1)}
	if !slices.EqualFunc(got, want, slices.Equal) || !next.Done() {
		t.Errorf("pages with deliveries in between:\n got %v (done %v)\nwant %v (done)", got, next.Done(), want)
	}
	fresh, _, err := s.List(t.Context(), "rcpt@example.com", postgres.Inbox, postgres.Page{Size: 10})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if got, want := subjects(fresh), numbered(29, 20); !slices.Equal(got, want) {
		t.Errorf("a new listing: %v, want %v", got, want)
	}
}

// TestListSizes checks the page sizes at the edges: a folder of exactly
// two pages ends with Done on the second, not with an empty third; zero is
// the default; negative is everything.
func TestListSizes(t *testing.T) {
	s, _ := newStore(t, nil)
	for i := 1; i <= postgres.DefaultPageSize+2; i++ {
		deliver(t, s, env(), fmt.Appendf(nil, "Subject: m%02d\r\n\r\n", i))
	}
	cases := []struct {
		size  int
		pages []int
	}{
		{size: 26, pages: []int{26, 26}},
		{size: 0, pages: []int{postgres.DefaultPageSize, 2}},
		{size: -1, pages: []int{postgres.DefaultPageSize + 2}},
		{size: 1000, pages: []int{postgres.DefaultPageSize + 2}},
		{size: 1, pages: slices.Repeat([]int{1}, postgres.DefaultPageSize+2)},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("size %d", tc.size), func(t *testing.T) {
			page := postgres.Page{Size: tc.size}
			var got []int
			for range 100 {
				sums, next, err := s.List(t.Context(), "rcpt@example.com", postgres.Inbox, page)
				if err != nil {
					t.Fatalf("List: %v", err)
				}
				got = append(got, len(sums))
				if next.Done() {
					if sums, _, _ := s.List(t.Context(), "rcpt@example.com", postgres.Inbox, next); len(sums) != 0 {
						t.Errorf("List after Done returned %d summaries", len(sums))
					}
					break
				}
				page = next
			}
			if !slices.Equal(got, tc.pages) {
				t.Errorf("page lengths %v, want %v", got, tc.pages)
			}
		})
	}
}

// TestListMailboxesApart checks that a mailbox lists only its own entries.
func TestListMailboxesApart(t *testing.T) {
	s, _ := newStore(t, nil)
	deliver(t, s, env("a@example.com"), []byte("Subject: for a\r\n\r\n"))
	deliver(t, s, env("b@example.com"), []byte("Subject: for b\r\n\r\n"))
	deliver(t, s, env("a@example.com", "b@example.com"), []byte("Subject: for both\r\n\r\n"))
	for mailbox, want := range map[string][]string{
		"a@example.com": {"for both", "for a"},
		"b@example.com": {"for both", "for b"},
		"c@example.com": nil,
	} {
		if got := subjects(list(t, s, mailbox, postgres.Inbox)); !slices.Equal(got, want) {
			t.Errorf("List(%s) = %v, want %v", mailbox, got, want)
		}
	}
}

// TestFolders checks that every folder name but Inbox and Junk is refused,
// by List and by Move.
func TestFolders(t *testing.T) {
	s, _ := newStore(t, nil)
	deliver(t, s, env(), []byte("Subject: x\r\n\r\n"))
	id := list(t, s, "rcpt@example.com", postgres.Inbox)[0].ID
	for _, folder := range []string{"", "inbox", "Inbox", "INBOX ", "junk", "JUNK", ".Junk", "Spam", "Trash", "INBOX/Junk", "\x00"} {
		if _, _, err := s.List(t.Context(), "rcpt@example.com", folder, postgres.Page{}); !errors.Is(err, postgres.ErrUnknownFolder) {
			t.Errorf("List(%q): err = %v, want ErrUnknownFolder", folder, err)
		}
		if err := s.Move(t.Context(), id, folder); !errors.Is(err, postgres.ErrUnknownFolder) {
			t.Errorf("Move(%q): err = %v, want ErrUnknownFolder", folder, err)
		}
	}
	if got := len(list(t, s, "rcpt@example.com", postgres.Inbox)); got != 1 {
		t.Errorf("after refused moves the inbox holds %d messages, want 1", got)
	}
}
