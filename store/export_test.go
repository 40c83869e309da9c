package store

// NamedTmp makes m write every message through a named file in tmp/, as on
// systems without O_TMPFILE.
func NamedTmp(m *Maildir) *Maildir { m.named = true; return m }

// NamedTmpMailboxes does the same for a Mailboxes.
func NamedTmpMailboxes(m *Mailboxes) *Mailboxes { m.named = true; return m }

// SetDirSynced has f called with the path of every directory fsynced,
// after the fsync, until the test ends. Tests that use it must not run in
// parallel with others.
func SetDirSynced(t interface{ Cleanup(func()) }, f func(path string)) {
	dirSynced = f
	t.Cleanup(func() { dirSynced = nil })
}
