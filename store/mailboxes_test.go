package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ownmx/ownmx/smtpd"
)

func TestMailbox(t *testing.T) {
	root := t.TempDir()
	m := &Mailboxes{Root: root, Domains: []string{"Example.COM", "mx.example.org."}, Users: []string{"me", "Jane.Doe", "a_b-c"}}
	for _, tc := range []struct {
		group, addr string
		want        string // path under root, or "" when refused
		wantErr     error
	}{
		// Users and the mapping of local parts.
		{"users", "me@example.com", "example.com/me", nil},
		{"users", "ME@EXAMPLE.COM", "example.com/me", nil},
		{"users", "jane.doe@example.com", "example.com/jane.doe", nil},
		{"users", "a_b-c@mx.example.org", "mx.example.org/a_b-c", nil},
		{"users", "me@example.com.", "example.com/me", nil},
		{"users", "you@example.com", "", smtpd.ErrNoSuchUser},
		// Plus-addressing.
		{"plus", "me+shop@example.com", "example.com/me", nil},
		{"plus", "Me+Shop+More@example.com", "example.com/me", nil},
		{"plus", "+shop@example.com", "", smtpd.ErrNoSuchUser},
		// RFC 5321 §4.5.1: postmaster always, in any case, even without a domain.
		{"postmaster", "postmaster@example.com", "example.com/postmaster", nil},
		{"postmaster", "PostMaster@mx.example.org", "mx.example.org/postmaster", nil},
		{"postmaster", "Postmaster", "example.com/postmaster", nil},
		{"postmaster", "postmaster@example.net", "", smtpd.ErrRelayDenied},
		// Nothing odd reaches the file system.
		{"unsafe", "../etc@example.com", "", smtpd.ErrNoSuchUser},
		{"unsafe", "..@example.com", "", smtpd.ErrNoSuchUser},
		{"unsafe", ".me@example.com", "", smtpd.ErrNoSuchUser},
		{"unsafe", "me.@example.com", "", smtpd.ErrNoSuchUser},
		{"unsafe", "m..e@example.com", "", smtpd.ErrNoSuchUser},
		{"unsafe", "-rf@example.com", "", smtpd.ErrNoSuchUser},
		{"unsafe", "a/b@example.com", "", smtpd.ErrNoSuchUser},
		{"unsafe", `a\b@example.com`, "", smtpd.ErrNoSuchUser},
		{"unsafe", `"me"@example.com`, "", smtpd.ErrNoSuchUser},
		{"unsafe", `"a@b"@example.com`, "", smtpd.ErrNoSuchUser},
		{"unsafe", "m\x00e@example.com", "", smtpd.ErrNoSuchUser},
		{"unsafe", "m e@example.com", "", smtpd.ErrNoSuchUser},
		{"unsafe", "jöhn@example.com", "", smtpd.ErrNoSuchUser},
		{"unsafe", "@example.com", "", smtpd.ErrNoSuchUser},
		{"unsafe", strings.Repeat("a", 65) + "@example.com", "", smtpd.ErrNoSuchUser},
		{"unsafe", "me", "", smtpd.ErrNoSuchUser},
		// Domains.
		{"domains", "me@example.net", "", smtpd.ErrRelayDenied},
		{"domains", "me@../example.com", "", smtpd.ErrRelayDenied},
		{"domains", "me@example..com", "", smtpd.ErrRelayDenied},
		{"domains", "me@[127.0.0.1]", "", smtpd.ErrRelayDenied},
		{"domains", "me@", "", smtpd.ErrRelayDenied},
		{"domains", "me@-example.com", "", smtpd.ErrRelayDenied},
		{"domains", "me@exämple.com", "", smtpd.ErrRelayDenied},
		{"domains", "me@example.com/x", "", smtpd.ErrRelayDenied},
	} {
		t.Run(tc.group+"/"+tc.addr, func(t *testing.T) {
			got, err := m.Mailbox(tc.addr)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Mailbox(%q) = %q, %v; want an error wrapping %v", tc.addr, got, err, tc.wantErr)
				}
				if rerr := m.Rcpt(t.Context(), &smtpd.Envelope{}, tc.addr); !errors.Is(rerr, tc.wantErr) {
					t.Errorf("Rcpt(%q) = %v, want %v", tc.addr, rerr, tc.wantErr)
				}
				return
			}
			if want := filepath.Join(root, tc.want); err != nil || got != want {
				t.Fatalf("Mailbox(%q) = %q, %v; want %q", tc.addr, got, err, want)
			}
			if err := m.Rcpt(t.Context(), &smtpd.Envelope{}, tc.addr); err != nil {
				t.Errorf("Rcpt(%q) = %v", tc.addr, err)
			}
		})
	}
	// Rcpt creates nothing.
	if ents, err := os.ReadDir(root); err != nil || len(ents) != 0 {
		t.Errorf("after Rcpt, root holds %d entries (err %v), want none", len(ents), err)
	}
}

func TestMailboxCatchAll(t *testing.T) {
	m := &Mailboxes{Root: t.TempDir()}
	for _, addr := range []string{"anyone@example.com", "x@sub.example.net"} {
		if _, err := m.Mailbox(addr); err != nil {
			t.Errorf("catch-all Mailbox(%q): %v", addr, err)
		}
	}
	if _, err := m.Mailbox("Postmaster"); !errors.Is(err, smtpd.ErrNoSuchUser) {
		t.Errorf("bare postmaster with no Domains: err = %v, want ErrNoSuchUser", err)
	}
	if _, err := m.Mailbox("../x@example.com"); !errors.Is(err, smtpd.ErrNoSuchUser) {
		t.Errorf("catch-all still refuses unsafe names: err = %v", err)
	}
}

func TestMailboxesConfigErrors(t *testing.T) {
	for _, m := range []*Mailboxes{
		{},
		{Root: "x", Domains: []string{"bad domain"}},
		{Root: "x", Users: []string{"me+tag"}},
		{Root: "x", Users: []string{"../x"}},
	} {
		_, err := m.Mailbox("me@example.com")
		if err == nil || errors.Is(err, smtpd.ErrNoSuchUser) {
			t.Errorf("Mailboxes %+v: err = %v, want a configuration error", m, err)
		}
	}
}

func readNew(t *testing.T, folder string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(folder, "new"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var bodies []string
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(folder, "new", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, string(b))
	}
	return bodies
}

func TestMailboxesFanOut(t *testing.T) {
	for _, named := range []bool{false, true} {
		t.Run(map[bool]string{false: "O_TMPFILE", true: "named"}[named], func(t *testing.T) {
			root := t.TempDir()
			m := &Mailboxes{Root: root, Domains: []string{"example.com", "example.org"}, named: named}
			env := &smtpd.Envelope{Rcpt: []string{"me+a@example.com", "you@example.org", "ME+b@example.com", "postmaster@example.com"}}
			body := "Subject: fan-out\r\n\r\nhello\r\n"
			if err := m.Deliver(t.Context(), env, strings.NewReader(body)); err != nil {
				t.Fatal(err)
			}
			for _, box := range []string{"example.com/me", "example.org/you", "example.com/postmaster"} {
				got := readNew(t, filepath.Join(root, box))
				if len(got) != 1 || got[0] != body {
					t.Errorf("%s/new holds %q, want one copy of the message", box, got)
				}
				if left, _ := os.ReadDir(filepath.Join(root, box, "tmp")); len(left) != 0 {
					t.Errorf("%s/tmp holds %d files, want none", box, len(left))
				}
			}

			env.Quarantine = true
			if err := m.Deliver(t.Context(), env, strings.NewReader(body)); err != nil {
				t.Fatal(err)
			}
			for _, box := range []string{"example.com/me", "example.org/you", "example.com/postmaster"} {
				if got := readNew(t, filepath.Join(root, box, Junk)); len(got) != 1 || got[0] != body {
					t.Errorf("%s/%s/new holds %q, want one copy", box, Junk, got)
				}
			}
		})
	}
}

// If one recipient's copy cannot be made, no recipient keeps one.
func TestMailboxesAllOrNothing(t *testing.T) {
	for _, named := range []bool{false, true} {
		t.Run(map[bool]string{false: "O_TMPFILE", true: "named"}[named], func(t *testing.T) {
			root := t.TempDir()
			m := &Mailboxes{Root: root, named: named}
			// A file where bob's Maildir would go.
			if err := os.MkdirAll(filepath.Join(root, "example.com"), 0o700); err != nil {
				t.Fatal(err)
			}
			blocker := filepath.Join(root, "example.com", "bob")
			if err := os.WriteFile(blocker, []byte("not a maildir"), 0o600); err != nil {
				t.Fatal(err)
			}
			env := &smtpd.Envelope{Rcpt: []string{"alice@example.com", "carol@example.com", "bob@example.com"}}
			err := m.Deliver(t.Context(), env, strings.NewReader("Subject: x\r\n\r\n"))
			if err == nil || !strings.Contains(err.Error(), blocker) {
				t.Fatalf("Deliver with bob's Maildir blocked: err = %v, want one naming %s", err, blocker)
			}
			for _, box := range []string{"alice", "carol"} {
				dir := filepath.Join(root, "example.com", box)
				if got := readNew(t, dir); len(got) != 0 {
					t.Errorf("%s kept %d copies after the delivery failed", box, len(got))
				}
				if left, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(left) != 0 {
					t.Errorf("%s/tmp holds %d files after the delivery failed", box, len(left))
				}
			}
		})
	}
}

func TestMailboxesDeliverUnknown(t *testing.T) {
	root := t.TempDir()
	m := &Mailboxes{Root: root, Users: []string{"me"}}
	env := &smtpd.Envelope{Rcpt: []string{"me@example.com", "stranger@example.com"}}
	if err := m.Deliver(t.Context(), env, strings.NewReader("x")); !errors.Is(err, smtpd.ErrNoSuchUser) {
		t.Fatalf("Deliver to an unknown user: err = %v, want ErrNoSuchUser", err)
	}
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Errorf("root holds %d entries after a refused delivery", len(ents))
	}
	if err := m.Deliver(t.Context(), &smtpd.Envelope{}, strings.NewReader("x")); err == nil {
		t.Error("Deliver with no recipients: no error")
	}
}
