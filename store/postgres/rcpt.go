package postgres

import (
	"context"
	"fmt"
	"path"
	"slices"

	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/store"
)

// setRouter checks domains and users and keeps the store.Mailboxes that
// maps addresses to mailboxes by its rules. Its Root is never written: only
// Mailbox is called, which touches no file.
func (s *Store) setRouter(domains, users []string) error {
	s.router = &store.Mailboxes{Root: "/", Domains: domains, Users: users}
	// The first call checks Domains and Users; postmaster of an accepted
	// domain is always accepted, so any error is theirs.
	probe := "postmaster@example.com"
	if len(domains) > 0 {
		probe = "postmaster@" + domains[0]
	}
	if _, err := s.router.Mailbox(probe); err != nil {
		return fmt.Errorf("postgres: Options: %w", err)
	}
	return nil
}

// Mailbox returns the name of the mailbox that mail to addr goes to,
// "local@domain", by the rules of store.Mailboxes.Mailbox (the "+tag"
// dropped, the local part lowercased, the domain in its ASCII form), or an
// error wrapping smtpd.ErrNoSuchUser (not in Users, or a local part this
// store refuses) or smtpd.ErrRelayDenied (a domain not in Domains).
func (s *Store) Mailbox(addr string) (string, error) {
	dir, err := s.router.Mailbox(addr)
	if err != nil {
		return "", err // "store: no mailbox for ...", wrapping the reply
	}
	// dir is /<domain>/<local>, neither of which holds a "/".
	domain, local := path.Split(dir)
	return local + "@" + path.Base(domain), nil
}

// Rcpt accepts the recipient to if it has a mailbox here (see Mailbox),
// and refuses it with a wrapped smtpd.ErrNoSuchUser (550 5.1.1) or
// smtpd.ErrRelayDenied (550 5.7.1) if not. It makes *Store an
// smtpd.RcptHandler.
func (s *Store) Rcpt(ctx context.Context, env *smtpd.Envelope, to string) error {
	_, err := s.Mailbox(to)
	return err
}

// mailboxes returns the distinct mailboxes of rcpts, in order.
func (s *Store) mailboxes(rcpts []string) ([]string, error) {
	boxes := make([]string, 0, len(rcpts))
	for _, rcpt := range rcpts {
		b, err := s.Mailbox(rcpt)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(boxes, b) {
			boxes = append(boxes, b)
		}
	}
	return boxes, nil
}
