package store

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ownmx/ownmx/smtpd"
)

// nameRE is the form of the names Maildir gives: time, microseconds, pid,
// counter, random, host; no ':' and no '/'.
var nameRE = regexp.MustCompile(`^[0-9]+\.M[0-9]+P[0-9]+Q[0-9]+R[0-9a-f]{16}\.[^/:]+$`)

func TestMaildirLayout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "deep", "Maildir")
	m := &Maildir{Dir: dir, Hostname: "mx/1:example"}
	ctx := t.Context()
	if err := m.Deliver(ctx, &smtpd.Envelope{Rcpt: []string{"a@example.com"}}, strings.NewReader("one\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := m.Deliver(ctx, &smtpd.Envelope{Rcpt: []string{"a@example.com"}, Quarantine: true}, strings.NewReader("two\r\n")); err != nil {
		t.Fatal(err)
	}

	// Directories per the maildir spec and Maildir++, mode 0700.
	for _, d := range []string{"", "cur", "new", "tmp", Junk, Junk + "/cur", Junk + "/new", Junk + "/tmp"} {
		fi, err := os.Stat(filepath.Join(dir, d))
		if err != nil {
			t.Errorf("missing directory: %v", err)
			continue
		}
		if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v, want a directory with 0700", filepath.Join(dir, d), fi.Mode())
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, Junk, "maildirfolder")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("Maildir++ marker %s/maildirfolder: %v", Junk, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "maildirfolder")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the top Maildir must not have a maildirfolder file (err = %v)", err)
	}

	for _, c := range []struct{ dir, body string }{{"new", "one\r\n"}, {Junk + "/new", "two\r\n"}} {
		ents, err := os.ReadDir(filepath.Join(dir, c.dir))
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != 1 {
			t.Fatalf("%s holds %d entries, want 1", c.dir, len(ents))
		}
		name := ents[0].Name()
		if !nameRE.MatchString(name) {
			t.Errorf("%s/%s: name not of the expected form %s", c.dir, name, nameRE)
		}
		if !strings.HasSuffix(name, `.mx\0571\072example`) {
			t.Errorf("%s/%s: host part not escaped as the spec says (\\057 for /, \\072 for :)", c.dir, name)
		}
		b, err := os.ReadFile(filepath.Join(dir, c.dir, name))
		if err != nil || string(b) != c.body {
			t.Errorf("%s/%s = %q, %v; want %q", c.dir, name, b, err, c.body)
		}
		if fi, _ := ents[0].Info(); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s/%s: mode %v, want 0600", c.dir, name, fi.Mode())
		}
	}
	for _, d := range []string{"tmp", "cur", Junk + "/tmp", Junk + "/cur"} {
		if ents, err := os.ReadDir(filepath.Join(dir, d)); err != nil || len(ents) != 0 {
			t.Errorf("%s: %d entries, err %v; want empty", d, len(ents), err)
		}
	}
}

func TestUniqueName(t *testing.T) {
	now := time.Unix(1764161735, 123456789)
	seen := make(map[string]bool)
	for range 1000 {
		n := uniqueName(now, "host")
		if !nameRE.MatchString(n) || !strings.HasPrefix(n, "1764161735.M123456P") {
			t.Fatalf("uniqueName = %q, not of the expected form", n)
		}
		if seen[n] {
			t.Fatalf("uniqueName gave %q twice at the same instant", n)
		}
		seen[n] = true
	}
}

func TestSafeHost(t *testing.T) {
	for in, want := range map[string]string{
		"mx.example.com": "mx.example.com",
		"a/b:c":          `a\057b\072c`,
		"x\ny\x7f":       "xy",
		"":               "localhost",
	} {
		if got := safeHost(in); got != want {
			t.Errorf("safeHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMaildirErrors(t *testing.T) {
	ctx := t.Context()
	env := &smtpd.Envelope{Rcpt: []string{"a@example.com"}}
	if err := (&Maildir{}).Deliver(ctx, env, strings.NewReader("x")); err == nil {
		t.Error("Deliver with no Dir: no error")
	}
	// A file where the Maildir should be: the error names the path.
	base := t.TempDir()
	blocker := filepath.Join(base, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := (&Maildir{Dir: filepath.Join(blocker, "Maildir")}).Deliver(ctx, env, strings.NewReader("x"))
	if err == nil || !strings.Contains(err.Error(), blocker) {
		t.Errorf("Deliver under a file: err = %v, want one naming %s", err, blocker)
	}
}

// A leftover in tmp/ (from a crash) does not stop deliveries, and a second
// Maildir value on the same directory works alongside the first.
func TestMaildirLeftoversAndSharing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "Maildir")
	a, b := &Maildir{Dir: dir}, &Maildir{Dir: dir, named: true}
	env := &smtpd.Envelope{Rcpt: []string{"a@example.com"}}
	if err := a.Deliver(t.Context(), env, strings.NewReader("1")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tmp", "1.M1P1Q1Rdeadbeefdeadbeef.crashed"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.Deliver(t.Context(), env, strings.NewReader("2")); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join(dir, "new"))
	if err != nil || len(ents) != 2 {
		t.Fatalf("new/ holds %d entries (err %v), want 2", len(ents), err)
	}
	var got []string
	for _, e := range ents {
		body, err := os.ReadFile(filepath.Join(dir, "new", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(body))
	}
	if !bytes.Equal([]byte(strings.Join(sorted(got), ",")), []byte("1,2")) {
		t.Errorf("new/ holds %q, want 1 and 2", got)
	}
}

func sorted(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}
