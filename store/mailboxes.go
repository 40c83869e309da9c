package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ownmx/ownmx/smtpd"
)

// Mailboxes is a Store that gives every address its own Maildir,
// Root/<domain>/<local>/, and an smtpd.RcptHandler that accepts only the
// addresses it would deliver to.
//
// Addresses are mapped to directories by rules strict enough that no
// recipient can reach outside Root or put an odd name on the file system;
// see Mailbox. Plus-addressing is understood: me+shop@example.com is
// delivered to me@example.com. The postmaster of every accepted domain is
// always accepted (RFC 5321 §4.5.1), whatever Users says.
//
// With Users nil (a catch-all), anyone can make a new mailbox by sending
// it mail, so new mailboxes are bounded: MaxMailboxes per domain and
// MaxNewMailboxesPerHour in all. Past either, a recipient whose mailbox
// does not exist yet is refused with ErrMailboxLimit, 450 4.2.1 (a
// temporary reply: real mail comes back later and gets in once an
// operator raises the bound or the hour has passed), while existing
// mailboxes keep receiving and postmaster is always accepted. With Users
// set, the list is the operator's own bound and these are not used: no
// stranger can make a mailbox then, and a bound could only hold back mail
// for a user the operator listed.
//
// Root may be, or lie under, a symbolic link; beneath it no link is
// followed (a domain, mailbox or folder that is one fails the delivery
// with an error wrapping ErrSymlink that names it), so no message is
// written outside Root. A delivery that fails removes the links, files and
// directories it made, and nothing else (see Maildir).
//
// All of Root must be on one file system: a message for several recipients
// is written once and hard-linked into each of their Maildirs.
//
// The fields must not change once the Mailboxes is in use; it is then safe
// for concurrent use.
type Mailboxes struct {
	// Root is the directory that holds one directory per domain. Required.
	Root string
	// Domains lists the domains accepted, such as "example.com"; nil
	// accepts every domain whose name is safe (use smtpd's domain check
	// then, or this server relays into its own disk for anyone: the
	// bounds on new mailboxes hold per domain and in all, but each new
	// domain still gets a directory and a postmaster mailbox).
	Domains []string
	// Users lists the local parts that have a mailbox, such as "me"; nil
	// accepts every safe local part (a catch-all). postmaster is accepted
	// either way.
	Users []string
	// Hostname ends every file name. Default: the machine's host name.
	Hostname string
	// Now gives the time for file names and for MaxNewMailboxesPerHour.
	// Default: time.Now.
	Now func() time.Time

	// MaxMailboxes is the most mailboxes, postmaster aside, that a domain
	// may have while Users is nil: mailboxes on disk plus new ones
	// accepted at RCPT in the last hour and not made yet. Zero means
	// DefaultMaxMailboxes (1,000); negative means no limit.
	MaxMailboxes int
	// MaxNewMailboxesPerHour is the most mailboxes that do not exist yet
	// that this Mailboxes accepts, across all domains, in any hour while
	// Users is nil; each one takes its slot when first accepted at RCPT
	// (or by Deliver, called alone), whether or not a message follows.
	// Processes sharing Root each count their own. Zero means
	// DefaultMaxNewMailboxesPerHour (100); negative means no limit.
	MaxNewMailboxesPerHour int

	once    sync.Once
	domains map[string]bool
	users   map[string]bool
	initErr error
	limits  newMailboxes
	// named and stepwise: see Maildir.
	named, stepwise bool
}

// init checks and normalises Domains and Users, once.
func (m *Mailboxes) init() error {
	m.once.Do(func() {
		if m.Root == "" {
			m.initErr = errors.New("store: Mailboxes.Root is empty")
			return
		}
		if m.Domains != nil {
			m.domains = make(map[string]bool, len(m.Domains))
			for _, d := range m.Domains {
				n, ok := cleanDomain(d)
				if !ok {
					m.initErr = fmt.Errorf("store: Mailboxes.Domains: %q is not a domain name this store accepts (IDNA, then letters, digits and hyphens)", d)
					return
				}
				m.domains[n] = true
			}
		}
		if m.Users != nil {
			m.users = make(map[string]bool, len(m.Users))
			for _, u := range m.Users {
				n, ok := cleanLocal(u)
				if !ok || n != strings.ToLower(u) {
					m.initErr = fmt.Errorf("store: Mailboxes.Users: %q is not a local part this store accepts (letters, digits, '.', '-', '_', no '+')", u)
					return
				}
				m.users[n] = true
			}
		}
	})
	return m.initErr
}

// Mailbox returns the directory of the Maildir that mail to addr goes to,
// Root/<domain>/<local>, or an error wrapping smtpd.ErrNoSuchUser (unknown
// user, or a local part this store refuses) or smtpd.ErrRelayDenied (a
// domain not in Domains).
//
// The local part loses its "+tag" and is lowercased; it must then be 1 to
// 64 of a-z, 0-9, '.', '-' and '_', not start with '.' or '-', not end with
// '.' and hold no "..". The domain loses a final dot and is mapped to its
// ASCII form as for a DNS lookup (IDNA, UTS #46 with the Lookup profile of
// golang.org/x/net/idna: bücher.example becomes xn--bcher-kva.example,
// and the KELVIN SIGN or full-width letters fold to their ASCII letters),
// the same comparison smtpd's domain check makes; it is then lowercased and
// must be LDH labels (a-z, 0-9, '-') joined by single dots. Address
// literals, bytes that are not UTF-8 and names IDNA refuses are refused. Refusing, rather than
// encoding, what falls outside keeps one obvious directory per mailbox (no
// two spellings of one name, nothing a shell or an IMAP server would trip
// on, no "..", no "/"), and the sender learns at RCPT time. Real mailbox
// names fit; quoted local parts and non-ASCII local parts (RFC 6531) do
// not, for now.
//
// No name this maps to starts with '.', so Root may hold dot-directories
// for other uses (a spool, say) that no recipient can reach.
//
// A bare "postmaster" with no domain (RFC 5321 §4.5.1) goes to the first of
// Domains, and is refused when Domains is empty.
//
// Mailbox says where mail would go; it does not apply MaxMailboxes or
// MaxNewMailboxesPerHour, which Rcpt and Deliver do.
func (m *Mailboxes) Mailbox(addr string) (string, error) {
	b, err := m.route(addr)
	if err != nil {
		return "", err
	}
	return filepath.Join(m.Root, b.domain, b.local), nil
}

// mailbox is where an address's mail goes: Root/domain/local.
type mailbox struct {
	domain, local string
}

// rel returns the mailbox's path beneath Root.
func (b mailbox) rel() string { return b.domain + "/" + b.local }

// route maps addr to its mailbox; see Mailbox.
func (m *Mailboxes) route(addr string) (mailbox, error) {
	if err := m.init(); err != nil {
		return mailbox{}, err
	}
	local, domain, ok := smtpd.SplitAddress(addr)
	if !ok {
		if !strings.EqualFold(addr, "postmaster") || len(m.Domains) == 0 {
			return mailbox{}, fmt.Errorf("store: no mailbox for %q: %w", addr, smtpd.ErrNoSuchUser)
		}
		local, domain = "postmaster", m.Domains[0]
	}
	d, ok := cleanDomain(domain)
	if !ok || (m.domains != nil && !m.domains[d]) {
		return mailbox{}, fmt.Errorf("store: no mailbox for %q: domain not accepted: %w", addr, smtpd.ErrRelayDenied)
	}
	l, ok := cleanLocal(local)
	if !ok {
		return mailbox{}, fmt.Errorf("store: no mailbox for %q: local part not accepted: %w", addr, smtpd.ErrNoSuchUser)
	}
	if l != "postmaster" && m.users != nil && !m.users[l] {
		return mailbox{}, fmt.Errorf("store: no mailbox for %q: %w", addr, smtpd.ErrNoSuchUser)
	}
	return mailbox{domain: d, local: l}, nil
}

// Rcpt accepts the recipient to if it has a mailbox here, and refuses it
// with a wrapped smtpd.ErrNoSuchUser (550 5.1.1) or smtpd.ErrRelayDenied
// (550 5.7.1) if not, or with a wrapped ErrMailboxLimit (450 4.2.1) when
// its mailbox does not exist yet and no new one may be made now. A new
// mailbox it accepts holds its place under MaxMailboxes and
// MaxNewMailboxesPerHour, so that recipients accepted together, in one
// transaction or in many at once, never exceed them. It creates nothing on
// disk. It makes *Mailboxes an smtpd.RcptHandler.
func (m *Mailboxes) Rcpt(ctx context.Context, env *smtpd.Envelope, to string) error {
	b, err := m.route(to)
	if err != nil {
		return err
	}
	return m.admit([]mailbox{b})
}

// Deliver stores one copy of the message for each distinct mailbox among
// env.Rcpt (me+a@ and me+b@ share one), in its Junk folder when
// env.Quarantine is set. r is read once: the message is written to the
// first mailbox and hard-linked into the others. If any copy fails, the
// copies already made are removed and the error is returned. A new mailbox
// that Rcpt did not accept is subject to the same bounds here, and then
// nothing is delivered.
func (m *Mailboxes) Deliver(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
	if env == nil || len(env.Rcpt) == 0 {
		return errors.New("store: Mailboxes.Deliver: the envelope has no recipients")
	}
	boxes := make([]mailbox, 0, len(env.Rcpt))
	for _, rcpt := range env.Rcpt {
		b, err := m.route(rcpt)
		if err != nil {
			return err
		}
		if !slices.Contains(boxes, b) {
			boxes = append(boxes, b)
		}
	}
	if err := m.admit(boxes); err != nil {
		return err
	}
	targets := make([]target, len(boxes))
	for i, b := range boxes {
		t := target{domain: b.domain, mailbox: b.rel()}
		t.folder = t.mailbox
		if env.Quarantine {
			t.folder = t.mailbox + "/" + Junk
		}
		targets[i] = t
	}
	w := writer{host: m.Hostname, now: m.Now, named: m.named, stepwise: m.stepwise}
	return w.deliver(ctx, m.Root, targets, r)
}

// FreeSpace returns the bytes available for mail on the file system that
// holds Root (or, before the first delivery made it, its nearest existing
// parent): the blocks free for unprivileged users (statfs f_bavail) times
// their size, so that mail never eats into the reserve kept for root, even
// when this process runs as root. When the file system counts its inodes
// and fewer than MinFreeInodes are free, it returns 0: every message takes
// an inode, and a new mailbox several. Its signature is that of
// smtpd.Server's FreeSpace hook: srv.FreeSpace = boxes.FreeSpace.
func (m *Mailboxes) FreeSpace(ctx context.Context) (int64, error) {
	if m.Root == "" {
		return 0, errors.New("store: Mailboxes.Root is empty")
	}
	return freeSpace(ctx, m.Root)
}

// cleanLocal maps a local part to its mailbox name; see Mailbox.
func cleanLocal(s string) (string, bool) {
	if i := strings.IndexByte(s, '+'); i >= 0 {
		s = s[:i]
	}
	if len(s) == 0 || len(s) > 64 || s[0] == '.' || s[0] == '-' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return "", false
	}
	b := []byte(s)
	for i, c := range b {
		switch {
		case 'A' <= c && c <= 'Z':
			b[i] = c + 'a' - 'A'
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '.', c == '-', c == '_':
		default:
			return "", false
		}
	}
	return string(b), true
}

// cleanDomain maps a domain to its directory name; see Mailbox.
func cleanDomain(s string) (string, bool) {
	s, err := smtpd.ToASCII(strings.TrimSuffix(s, "."))
	if err != nil || len(s) == 0 || len(s) > 253 {
		return "", false
	}
	b := []byte(s)
	start := 0
	for i := 0; i <= len(b); i++ {
		if i == len(b) || b[i] == '.' {
			label := b[start:i]
			if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
				return "", false
			}
			start = i + 1
			continue
		}
		switch c := b[i]; {
		case 'A' <= c && c <= 'Z':
			b[i] = c + 'a' - 'A'
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-':
		default:
			return "", false
		}
	}
	return string(b), true
}
