package store

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/ownmx/ownmx/smtpd"
)

// Junk is the Maildir++ folder, inside a Maildir, that receives the messages
// whose Envelope.Quarantine is set. Dovecot and other IMAP servers show it
// as the folder "Junk".
const Junk = ".Junk"

// Maildir is a Store that delivers every message into one Maildir, or into
// its Junk folder when the envelope says to quarantine it.
//
// Deliver creates Dir and the folders it needs (mode 0700) when missing,
// writes the message to a file in tmp/ (on Linux, a file with no name yet:
// O_TMPFILE), flushes it, links it into new/ under a unique name and flushes
// new/ before returning nil. A failed or cancelled delivery leaves no file
// behind, in tmp/ or in new/, and removes the folders (tmp/, new/, cur/,
// .Junk) it created. The message is streamed, never held in memory. ctx is
// obeyed until the message is complete on disk; once it is linked into
// new/, Deliver waits for the flush whatever ctx says.
//
// Dir may be, or lie under, a symbolic link. The folders inside it are
// never followed when they are links: such a delivery fails with an error
// wrapping ErrSymlink that names the link, and writes nothing.
//
// Maildir needs no setup beyond Dir and is safe for concurrent use, within a
// process and across processes sharing the directory.
type Maildir struct {
	// Dir is the Maildir: the directory that holds (or will hold) tmp/, new/
	// and cur/. Required.
	Dir string
	// Hostname ends every file name, as the spec asks. Default: the
	// machine's host name.
	Hostname string
	// Now gives the time for file names. Default: time.Now.
	Now func() time.Time

	// named makes every delivery use a named file in tmp/, as on systems
	// without O_TMPFILE; stepwise opens every directory a component at a
	// time, as on systems without openat2. For tests and benchmarks.
	named, stepwise bool
}

// Deliver stores the message read from r in m.Dir/new, or in
// m.Dir/.Junk/new when env.Quarantine is set.
func (m *Maildir) Deliver(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
	if m.Dir == "" {
		return errors.New("store: Maildir.Dir is empty")
	}
	t := target{mailbox: ".", folder: "."}
	if env != nil && env.Quarantine {
		t.folder = Junk
	}
	w := writer{host: m.Hostname, now: m.Now, named: m.named, stepwise: m.stepwise}
	return w.deliver(ctx, m.Dir, []target{t}, r)
}

// FreeSpace returns the bytes available for mail on the file system that
// holds m.Dir (or its nearest existing parent), or 0 when fewer than
// MinFreeInodes files can still be made there; see Mailboxes.FreeSpace.
func (m *Maildir) FreeSpace(ctx context.Context) (int64, error) {
	if m.Dir == "" {
		return 0, errors.New("store: Maildir.Dir is empty")
	}
	return freeSpace(ctx, m.Dir)
}
