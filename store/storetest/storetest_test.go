package storetest_test

import (
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/ownmx/ownmx/store/storetest"
)

func TestMaildirContents(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"example.com/me/new/1.a":             "new",
		"example.com/me/cur/2.b:2,S":         "seen",
		"example.com/me/tmp/3.c":             "partial",
		"example.com/me/.Junk/new/4.d":       "junk",
		"example.com/me/.Junk/maildirfolder": "",
		"example.com/me/dovecot-uidlist":     "not a message",
	}
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := storetest.MaildirContents(root).Messages(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		rc, err := m.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m.Mailbox+" "+string(b)+map[bool]string{true: " quarantine"}[m.Quarantine]+map[bool]string{true: " partial"}[m.Partial])
	}
	sort.Strings(got)
	want := []string{
		"example.com/me new",
		"example.com/me partial partial",
		"example.com/me seen",
		"example.com/me/.Junk junk quarantine",
	}
	if len(got) != len(want) {
		t.Fatalf("Messages = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Messages[%d] = %q, want %q", i, got[i], want[i])
		}
	}

	// A root not made yet holds nothing.
	msgs, err = storetest.MaildirContents(filepath.Join(root, "absent")).Messages(t.Context())
	if err != nil || len(msgs) != 0 {
		t.Errorf("absent root: %d messages, err %v; want none", len(msgs), err)
	}
}
