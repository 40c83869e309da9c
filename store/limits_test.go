package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ownmx/ownmx/smtpd"
)

// wantLimit fails the test unless err is the 450 4.2.1 of ErrMailboxLimit
// as smtpd would send it.
func wantLimit(t *testing.T, what string, err error) {
	t.Helper()
	var reply *smtpd.Error
	if !errors.Is(err, ErrMailboxLimit) || !errors.As(err, &reply) || reply.Code != 450 || reply.Enhanced != (smtpd.EnhancedCode{4, 2, 1}) {
		t.Fatalf("%s: err = %v, want 450 4.2.1 (ErrMailboxLimit)", what, err)
	}
}

// clock is a Now whose time the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// rcpt calls m.Rcpt for addr.
func rcpt(t *testing.T, m *Mailboxes, addr string) error {
	t.Helper()
	return m.Rcpt(t.Context(), &smtpd.Envelope{}, addr)
}

// MaxMailboxes: past it, a new local part is refused at RCPT with 450
// 4.2.1 while existing mailboxes, new ones already accepted, and
// postmaster are accepted; Deliver makes no mailbox past it either.
func TestMaxMailboxes(t *testing.T) {
	root := t.TempDir()
	mkdir(t, filepath.Join(root, "example.com", "old", "new"))
	mkdir(t, filepath.Join(root, "example.com", "postmaster")) // not counted
	mkdir(t, filepath.Join(root, "example.com", ".spool"))     // not a mailbox name
	writeFile(t, filepath.Join(root, "example.com", "file"))   // not a directory
	m := &Mailboxes{Root: root, MaxMailboxes: 3, MaxNewMailboxesPerHour: -1}
	for _, addr := range []string{"a@example.com", "b@example.com", "A+again@example.com", "old@example.com"} {
		if err := rcpt(t, m, addr); err != nil {
			t.Fatalf("Rcpt(%q) with room left: %v", addr, err)
		}
	}
	wantLimit(t, "a fourth mailbox at RCPT", rcpt(t, m, "c@example.com"))
	for _, addr := range []string{"old@example.com", "Old+tag@example.com", "a@example.com", "postmaster@example.com", "PostMaster@example.com"} {
		if err := rcpt(t, m, addr); err != nil {
			t.Errorf("Rcpt(%q) at the bound: %v", addr, err)
		}
	}
	// Other domains have their own count.
	for _, addr := range []string{"c@example.org", "d@example.org", "e@example.org"} {
		if err := rcpt(t, m, addr); err != nil {
			t.Errorf("Rcpt(%q) in another domain: %v", addr, err)
		}
	}

	deliver := func(rcpts ...string) error {
		return m.Deliver(t.Context(), &smtpd.Envelope{Rcpt: rcpts}, strings.NewReader("Subject: x\r\n\r\n"))
	}
	if err := deliver("old@example.com", "a@example.com", "postmaster@example.com"); err != nil {
		t.Fatalf("Deliver to existing and accepted mailboxes: %v", err)
	}
	wantLimit(t, "Deliver to a new mailbox past the bound", deliver("old@example.com", "c@example.com"))
	if _, err := os.Stat(filepath.Join(root, "example.com", "c")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Deliver past the bound made a mailbox (stat err %v)", err)
	}
	if got := readNew(t, filepath.Join(root, "example.com", "old")); len(got) != 1 {
		t.Errorf("old/new holds %d messages, want 1: a refused delivery delivers nothing", len(got))
	}
	// a now exists, b is still held: c is still refused.
	wantLimit(t, "a fourth mailbox after a delivery", rcpt(t, m, "c@example.com"))
}

// MaxNewMailboxesPerHour counts new mailboxes across domains, each from its
// first acceptance, delivered or not, for an hour.
func TestMaxNewMailboxesPerHour(t *testing.T) {
	root := t.TempDir()
	mkdir(t, filepath.Join(root, "example.com", "old"))
	c := &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	m := &Mailboxes{Root: root, MaxNewMailboxesPerHour: 2, Now: c.now}
	for _, addr := range []string{"a@example.com", "b@example.org", "a@example.com"} {
		if err := rcpt(t, m, addr); err != nil {
			t.Fatalf("Rcpt(%q): %v", addr, err)
		}
	}
	wantLimit(t, "a third new mailbox in the hour", rcpt(t, m, "c@example.net"))
	if err := rcpt(t, m, "old@example.com"); err != nil {
		t.Errorf("an existing mailbox past the rate: %v", err)
	}
	if err := rcpt(t, m, "postmaster@example.net"); err != nil {
		t.Errorf("postmaster past the rate: %v", err)
	}
	c.add(59*time.Minute + 59*time.Second)
	wantLimit(t, "a third new mailbox before the hour is over", rcpt(t, m, "c@example.net"))
	c.add(time.Second)
	if err := rcpt(t, m, "c@example.net"); err != nil {
		t.Fatalf("a new mailbox once the hour has passed: %v", err)
	}
	// The hour's slot is taken again by c.
	if err := rcpt(t, m, "d@example.net"); err != nil {
		t.Fatalf("the second new mailbox of the new hour: %v", err)
	}
	wantLimit(t, "a third new mailbox in the new hour", rcpt(t, m, "e@example.net"))
}

// Both bounds hold under concurrent RCPTs and deliveries: exactly as many
// new mailboxes as allowed are accepted and made, never more.
func TestMailboxBoundsConcurrent(t *testing.T) {
	for _, tc := range []struct {
		name             string
		maxBoxes, maxNew int
		want             int
	}{
		{"MaxMailboxes", 7, -1, 7},
		{"MaxNewMailboxesPerHour", -1, 5, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			m := &Mailboxes{Root: root, MaxMailboxes: tc.maxBoxes, MaxNewMailboxesPerHour: tc.maxNew}
			const workers = 40
			var accepted, delivered atomic.Int64
			var wg sync.WaitGroup
			for i := range workers {
				wg.Go(func() {
					addr := fmt.Sprintf("u%d@example.com", i)
					err := rcpt(t, m, addr)
					if err == nil {
						accepted.Add(1)
					} else if !errors.Is(err, ErrMailboxLimit) {
						t.Errorf("Rcpt(%q): %v", addr, err)
					}
					// Deliver alone, as a Store used without Rcpt would be.
					addr = fmt.Sprintf("d%d@example.org", i)
					err = m.Deliver(t.Context(), &smtpd.Envelope{Rcpt: []string{addr}}, strings.NewReader("x"))
					if err == nil {
						delivered.Add(1)
					} else if !errors.Is(err, ErrMailboxLimit) {
						t.Errorf("Deliver(%q): %v", addr, err)
					}
				})
			}
			wg.Wait()
			if tc.maxNew >= 0 {
				// One hourly budget for both domains.
				if got := accepted.Load() + delivered.Load(); got != int64(tc.want) {
					t.Errorf("%d new mailboxes accepted in all, want %d", got, tc.want)
				}
				return
			}
			if accepted.Load() != int64(tc.want) || delivered.Load() != int64(tc.want) {
				t.Errorf("accepted %d at RCPT and delivered to %d, want %d each", accepted.Load(), delivered.Load(), tc.want)
			}
			ents, err := os.ReadDir(filepath.Join(root, "example.org"))
			if err != nil || len(ents) != tc.want {
				t.Errorf("example.org holds %d mailboxes (err %v), want %d", len(ents), err, tc.want)
			}
		})
	}
}

// The count of mailboxes on disk follows what other processes (here,
// another Mailboxes value and plain mkdir) make in the same Root, without
// reading the domain directory for every recipient.
func TestMailboxCountAcrossProcesses(t *testing.T) {
	root := t.TempDir()
	domain := filepath.Join(root, "example.com")
	mkdir(t, filepath.Join(domain, "x"))
	m1 := &Mailboxes{Root: root, MaxMailboxes: 3}
	m2 := &Mailboxes{Root: root, MaxMailboxes: 3}
	// A directory last changed long ago: its time can be trusted.
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(domain, old, old); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if err := rcpt(t, m1, "x@example.com"); err != nil {
			t.Fatal(err)
		}
	}
	if n := m1.limits.scans; n != 1 {
		t.Errorf("100 RCPTs read the domain directory %d times, want once", n)
	}

	// The other process makes two mailboxes: the bound is reached.
	if err := m2.Deliver(t.Context(), &smtpd.Envelope{Rcpt: []string{"a@example.com", "b@example.com"}}, strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	wantLimit(t, "a new mailbox after another process made the last ones", rcpt(t, m1, "c@example.com"))
	for _, addr := range []string{"a@example.com", "b@example.com", "x@example.com"} {
		if err := rcpt(t, m1, addr); err != nil {
			t.Errorf("Rcpt(%q), made by the other process: %v", addr, err)
		}
	}

	// A mailbox removed elsewhere frees its place.
	if err := os.RemoveAll(filepath.Join(domain, "b")); err != nil {
		t.Fatal(err)
	}
	if err := rcpt(t, m1, "c@example.com"); err != nil {
		t.Errorf("Rcpt of a new mailbox once one was removed: %v", err)
	}
}

// The bounds are for a catch-all: with Users, the list is the bound.
// Negative bounds mean none.
func TestMailboxBoundsOff(t *testing.T) {
	users := []string{"a", "b", "c", "d"}
	listed := &Mailboxes{Root: t.TempDir(), Users: users, MaxMailboxes: 1, MaxNewMailboxesPerHour: 1}
	for _, u := range users {
		if err := rcpt(t, listed, u+"@example.com"); err != nil {
			t.Errorf("listed user %s refused: %v", u, err)
		}
	}
	unbounded := &Mailboxes{Root: t.TempDir(), MaxMailboxes: -1, MaxNewMailboxesPerHour: -1}
	for i := range 2 * DefaultMaxNewMailboxesPerHour {
		if err := rcpt(t, unbounded, fmt.Sprintf("u%d@example.com", i)); err != nil {
			t.Fatalf("with no bounds, new mailbox %d refused: %v", i, err)
		}
	}
}

// Zero means the defaults: 100 new mailboxes an hour, 1,000 a domain.
func TestMailboxBoundsDefaults(t *testing.T) {
	m := &Mailboxes{Root: t.TempDir()}
	for i := range DefaultMaxNewMailboxesPerHour {
		if err := rcpt(t, m, fmt.Sprintf("u%d@example.com", i)); err != nil {
			t.Fatalf("new mailbox %d refused: %v", i, err)
		}
	}
	wantLimit(t, "new mailbox 101 in the hour", rcpt(t, m, "one-more@example.com"))

	root := t.TempDir()
	for i := range DefaultMaxMailboxes {
		mkdir(t, filepath.Join(root, "example.com", fmt.Sprintf("u%d", i)))
	}
	full := &Mailboxes{Root: root}
	wantLimit(t, "mailbox 1,001 of a domain", rcpt(t, full, "one-more@example.com"))
	if err := rcpt(t, full, "u999@example.com"); err != nil {
		t.Errorf("an existing mailbox of a full domain: %v", err)
	}
}
