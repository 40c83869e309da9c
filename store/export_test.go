package store

// NamedTmp makes m write every message through a named file in tmp/, as on
// systems without O_TMPFILE.
func NamedTmp(m *Maildir) *Maildir { m.named = true; return m }

// NamedTmpMailboxes does the same for a Mailboxes.
func NamedTmpMailboxes(m *Mailboxes) *Mailboxes { m.named = true; return m }
