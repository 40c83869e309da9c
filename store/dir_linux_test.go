package store

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ownmx/ownmx/smtpd"
)

// A process without CAP_DAC_READ_SEARCH cannot linkat(AT_EMPTY_PATH); its
// O_TMPFILE messages get their names through /proc/self/fd, into the same
// directory descriptors. (The tests may run as root, which has the
// capability: the other way is forced here.)
func TestLinkThroughProc(t *testing.T) {
	if !procFD() {
		t.Fatal("/proc/self/fd is missing: O_TMPFILE deliveries would all fall back to named files")
	}
	was := emptyPathDenied.Load()
	emptyPathDenied.Store(true)
	t.Cleanup(func() { emptyPathDenied.Store(was) })
	root := filepath.Join(t.TempDir(), "mail")
	m := &Mailboxes{Root: root}
	env := &smtpd.Envelope{Rcpt: []string{"me@example.com", "you@example.com"}}
	if err := m.Deliver(t.Context(), env, strings.NewReader("via proc")); err != nil {
		t.Fatal(err)
	}
	for _, box := range []string{"me", "you"} {
		if got := readNew(t, filepath.Join(root, "example.com", box)); len(got) != 1 || got[0] != "via proc" {
			t.Errorf("%s/new holds %q", box, got)
		}
	}
}
