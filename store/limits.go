package store

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/ownmx/ownmx/smtpd"
)

// Defaults of the bounds on new mailboxes of a catch-all Mailboxes.
const (
	// DefaultMaxMailboxes is the default of Mailboxes.MaxMailboxes.
	DefaultMaxMailboxes = 1000
	// DefaultMaxNewMailboxesPerHour is the default of
	// Mailboxes.MaxNewMailboxesPerHour.
	DefaultMaxNewMailboxesPerHour = 100
)

// ErrMailboxLimit refuses a recipient whose mailbox does not exist yet
// while Mailboxes may make no new one (MaxMailboxes or
// MaxNewMailboxesPerHour): 450 4.2.1, a temporary reply, so that the
// sender of real mail tries again later.
var ErrMailboxLimit = &smtpd.Error{Code: 450, Enhanced: smtpd.EnhancedCode{4, 2, 1}, Message: "Mailbox unavailable: no new mailboxes for now, try again later"}

// rateWindow is the span of MaxNewMailboxesPerHour, and how long a new
// mailbox accepted but never made counts under MaxMailboxes.
const rateWindow = time.Hour

// racyAge is how recently a domain directory may have changed for its
// modification time not to be trusted: a file system stamps times in
// ticks (a few milliseconds on Linux, a second or two on some), so a
// directory read in the same tick as a change may change again without its
// time moving. One read that recently is followed by another at the next
// check.
const racyAge = 2 * time.Second

// newMailboxes keeps what the bounds on new mailboxes need.
//
// Mailboxes on disk are counted by reading the domain directory, and read
// again only when the directory's modification time (or identity) has
// changed since, which making or removing a mailbox in it does, whichever
// process did it: one lstat per recipient, one read per change. The count
// is thus right across processes sharing Root. New mailboxes accepted and
// not made yet, and the hourly rate, are known to this process only.
type newMailboxes struct {
	mu      sync.Mutex
	domains map[string]*domainBoxes
	window  []time.Time // when each new mailbox of the last hour was accepted
	scans   int         // domain directory reads, for tests
}

// domainBoxes is what is known of one domain's mailboxes.
type domainBoxes struct {
	dir      os.FileInfo          // the domain directory when last read; nil if missing
	racy     bool                 // read within racyAge of its last change
	names    map[string]bool      // the mailboxes in it then, postmaster aside
	reserved map[string]time.Time // new mailboxes accepted and not on disk yet
}

// count is the domain's mailboxes for MaxMailboxes.
func (d *domainBoxes) count() int { return len(d.names) + len(d.reserved) }

// maxMailboxes is MaxMailboxes with its default.
func (m *Mailboxes) maxMailboxes() int {
	if m.MaxMailboxes == 0 {
		return DefaultMaxMailboxes
	}
	return m.MaxMailboxes
}

// maxNewPerHour is MaxNewMailboxesPerHour with its default.
func (m *Mailboxes) maxNewPerHour() int {
	if m.MaxNewMailboxesPerHour == 0 {
		return DefaultMaxNewMailboxesPerHour
	}
	return m.MaxNewMailboxesPerHour
}

// admit checks that mail may go to boxes: each exists, is postmaster, was
// accepted already, or is new and fits the bounds, in which case it takes
// its place under them. Either all fit, or none takes a place and the
// error, wrapping ErrMailboxLimit, says which bound refused. Only a
// catch-all (Users nil) is bounded.
func (m *Mailboxes) admit(boxes []mailbox) error {
	if m.users != nil {
		return nil
	}
	maxBoxes, maxNew := m.maxMailboxes(), m.maxNewPerHour()
	if maxBoxes < 0 && maxNew < 0 {
		return nil
	}
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	t := now()

	l := &m.limits
	l.mu.Lock()
	defer l.mu.Unlock()
	l.window = slices.DeleteFunc(l.window, func(at time.Time) bool { return t.Sub(at) >= rateWindow })
	var fresh []mailbox
	var of []*domainBoxes // the domain of each of fresh
	for _, b := range boxes {
		if b.local == "postmaster" {
			continue
		}
		d := l.lookup(m.Root, b.domain, t)
		if _, ok := d.reserved[b.local]; ok || d.names[b.local] {
			continue
		}
		fresh, of = append(fresh, b), append(of, d)
	}
	if len(fresh) == 0 {
		return nil
	}
	if maxNew >= 0 && len(l.window)+len(fresh) > maxNew {
		return fmt.Errorf("store: no new mailbox %s: %d new mailboxes accepted in the last hour, the most allowed (MaxNewMailboxesPerHour): %w",
			fresh[0].rel(), len(l.window), ErrMailboxLimit)
	}
	if maxBoxes >= 0 {
		for i, b := range fresh {
			n := of[i].count()
			for _, o := range fresh[:i+1] {
				if o.domain == b.domain {
					n++
				}
			}
			if n > maxBoxes {
				return fmt.Errorf("store: no new mailbox %s: %s has %d mailboxes, the most allowed (MaxMailboxes): %w",
					b.rel(), b.domain, n-1, ErrMailboxLimit)
			}
		}
	}
	for i, b := range fresh {
		d := of[i]
		l.domains[b.domain] = d
		if d.reserved == nil {
			d.reserved = make(map[string]time.Time)
		}
		d.reserved[b.local] = t
		if maxNew >= 0 {
			l.window = append(l.window, t)
		}
	}
	return nil
}

// lookup returns what is known of domain's mailboxes at t, reading its
// directory again if it changed. It keeps it in l.domains while there is
// something to remember.
func (l *newMailboxes) lookup(root, domain string, t time.Time) *domainBoxes {
	if l.domains == nil {
		l.domains = make(map[string]*domainBoxes)
	}
	d := l.domains[domain]
	if d == nil {
		d = &domainBoxes{}
		l.domains[domain] = d
	}
	for local, at := range d.reserved {
		if t.Sub(at) >= rateWindow {
			delete(d.reserved, local)
		}
	}
	path := filepath.Join(root, domain)
	fi, err := os.Lstat(path)
	switch {
	case err != nil || !fi.IsDir():
		// Missing, or not a directory (a link is never followed): no
		// mailboxes there.
		d.dir, d.names = nil, nil
	case d.dir != nil && !d.racy && os.SameFile(d.dir, fi) && fi.ModTime().Equal(d.dir.ModTime()):
	default:
		l.scans++
		names, err := readMailboxNames(path)
		if err != nil {
			d.dir = nil // read again next time
			break
		}
		d.dir, d.names = fi, names
		d.racy = time.Since(fi.ModTime()) < racyAge
	}
	for local := range d.reserved {
		if d.names[local] {
			delete(d.reserved, local) // made: counted among the names now
		}
	}
	if d.dir == nil && len(d.reserved) == 0 {
		delete(l.domains, domain) // nothing to remember: keep no entry per name tried
	}
	return d
}

// readMailboxNames returns the names of the mailboxes in the domain
// directory dir: the subdirectories whose names Mailbox could give, but
// postmaster.
func readMailboxNames(dir string) (map[string]bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	names := make(map[string]bool, len(ents))
	for _, e := range ents {
		n := e.Name()
		if !e.IsDir() || n == "postmaster" {
			continue
		}
		if c, ok := cleanLocal(n); ok && c == n {
			names[n] = true
		}
	}
	return names, nil
}
