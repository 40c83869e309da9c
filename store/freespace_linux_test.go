package store

import (
	"context"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// FreeSpace reports what statfs says an unprivileged user may still write
// on the file system of the mail: for the directory, or the nearest
// existing parent of one not made yet, and the same through a Maildir, a
// Mailboxes and the signature smtpd's hook will take.
func TestFreeSpaceStatfs(t *testing.T) {
	dir := t.TempDir()
	statfs := func() (avail, free int64) {
		t.Helper()
		var st unix.Statfs_t
		if err := unix.Statfs(dir, &st); err != nil {
			t.Fatal(err)
		}
		if st.Files > 0 && st.Ffree < MinFreeInodes {
			return 0, 0
		}
		return int64(st.Bavail) * st.Bsize, int64(st.Bfree) * st.Bsize
	}
	// Other programs write on this disk too: allow for what they did
	// between the calls.
	const slack = 64 << 20
	for _, tc := range []struct {
		name string
		hook func(ctx context.Context) (int64, error)
	}{
		{"Mailboxes, Root exists", (&Mailboxes{Root: dir}).FreeSpace},
		{"Mailboxes, Root not made yet", (&Mailboxes{Root: filepath.Join(dir, "not", "yet")}).FreeSpace},
		{"Maildir, Dir not made yet", (&Maildir{Dir: filepath.Join(dir, "mail", "me")}).FreeSpace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, free := statfs()
			got, err := tc.hook(t.Context())
			after, _ := statfs()
			if err != nil {
				t.Fatal(err)
			}
			if got < min(before, after)-slack || got > max(before, after)+slack {
				t.Errorf("FreeSpace = %d; statfs says %d then %d bytes available (f_bavail)", got, before, after)
			}
			t.Logf("FreeSpace = %d bytes; f_bfree would say %d", got, free)
		})
	}
}
