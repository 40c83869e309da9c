package smtpd

import (
	"context"
	"strings"
)

// Domains is a RcptHandler that takes mail for a set of domains only: the
// server's relay protection. Make one with AcceptDomains.
type Domains struct {
	names map[string]bool
	next  RcptHandler
}

// AcceptDomains returns a RcptHandler that accepts recipients at the given
// domains (compared without regard to case) and refuses every other
// recipient with 550 5.7.1, so the server never relays. By itself it accepts
// any local part; Then asks another handler about them.
func AcceptDomains(domains ...string) *Domains {
	d := &Domains{names: make(map[string]bool, len(domains))}
	for _, name := range domains {
		d.names[normalizeDomain(name)] = true
	}
	return d
}

// Then returns a copy of d that, for a recipient at one of its domains,
// asks next whether the mailbox exists. postmaster is accepted without
// asking (RFC 5321 §4.5.1 requires it), and so is "<Postmaster>" given
// without a domain.
func (d *Domains) Then(next RcptHandler) *Domains {
	return &Domains{names: d.names, next: next}
}

// Accepts reports whether domain is one of d's domains.
func (d *Domains) Accepts(domain string) bool {
	return d.names[normalizeDomain(domain)]
}

// Rcpt accepts or refuses one recipient.
func (d *Domains) Rcpt(ctx context.Context, env *Envelope, to string) error {
	if strings.EqualFold(to, "postmaster") {
		return nil
	}
	local, domain, ok := SplitAddress(to)
	if !ok || !d.Accepts(domain) {
		return ErrRelayDenied
	}
	if d.next == nil || strings.EqualFold(local, "postmaster") {
		return nil
	}
	return d.next.Rcpt(ctx, env, to)
}

// normalizeDomain lower-cases a domain and drops a trailing dot.
func normalizeDomain(d string) string {
	return strings.TrimSuffix(strings.ToLower(d), ".")
}
