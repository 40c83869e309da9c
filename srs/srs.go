package srs

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ownmx/ownmx/internal/ascii"
)

// DefaultMaxAge is how old a bounce address may be when Rewriter.MaxAge is
// zero: 21 days, the default of libsrs2 and postsrsd, so that a forwarder
// moving to this package with their secret accepts the bounces they would.
// A shorter age would narrow little: the hash already keeps strangers from
// making addresses, and a bounce may come late. A destination queues mail
// for 4 or 5 days before giving up (RFC 5321 §4.5.4.1) and each hop of a
// chain of forwarders can add as much again, while a bounce refused here
// is a sender who never learns the message was lost.
const DefaultMaxAge = 21 * 24 * time.Hour

// minSecret is the shortest secret a Rewriter takes, in bytes.
const minSecret = 16

// Errors of Forward and Reverse. The errors returned wrap one of these and
// say which address and what about it.
var (
	// ErrNotSRS is returned by Reverse for an address that is not an SRS
	// address at the Rewriter's Domain: mail for it is not a bounce to
	// send back.
	ErrNotSRS = errors.New("srs: not an SRS address")
	// ErrForged is returned by Reverse for an SRS address at the
	// Rewriter's Domain that none of its secrets made, or that does not
	// parse: it was made up or damaged on the way.
	ErrForged = errors.New("srs: forged or damaged SRS address")
	// ErrExpired is returned by Reverse for an SRS0 address made longer
	// ago than MaxAge allows, or dated more than a day ahead.
	ErrExpired = errors.New("srs: expired SRS address")
	// ErrTooLong is returned by Forward when the rewritten local part
	// would be longer than the 64 octets of RFC 5321 §4.5.3.1.1.
	ErrTooLong = errors.New("srs: rewritten local part too long")
)

// maxLocalPart is the longest local part in octets (RFC 5321 §4.5.3.1.1).
const maxLocalPart = 64

// day is the precision of SRS timestamps.
const day = 24 * time.Hour

// Rewriter rewrites senders of mail forwarded from Domain into SRS addresses
// at Domain (Forward) and bounces sent to those addresses back into the
// original senders (Reverse). Its methods may be called from several
// goroutines at once; its fields must not change meanwhile.
type Rewriter struct {
	// Domain is the forwarding domain: SRS addresses are @Domain, and its
	// SPF record must name the hosts that forward. Required; it is written
	// in lower case, and a domain in U-labels in A-labels.
	Domain string

	// Secrets key the hashes. The first signs; each of them verifies, so
	// that a new secret can be put first while addresses made with the
	// old one are still out. Required, each at least 16 bytes. They are
	// used as bytes: a postsrsd secrets file is one secret a line, without
	// its line ends.
	Secrets [][]byte

	// MaxAge is how old an SRS0 address may be when Reverse sees it. Zero
	// means DefaultMaxAge; a negative MaxAge means none (any timestamp).
	// Timestamps are whole days (UTC), so an address made at t is accepted
	// at least until t+MaxAge and refused once its day is more than MaxAge,
	// rounded up to whole days, behind the day of the check.
	MaxAge time.Duration

	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Forward returns the address to use as MAIL FROM when forwarding mail whose
// MAIL FROM was from (RFC 5321 §4.1.2 Mailbox, local part as sent, quoted or
// not, or "" for the null sender):
//
//   - "" stays "": a bounce is forwarded as a bounce.
//   - An address at Domain stays as it is.
//   - An SRS0 address at another domain (made by another forwarder)
//     becomes an SRS1 address at Domain naming that forwarder.
//   - An SRS1 address at another domain becomes an SRS1 address at Domain
//     with the same first forwarder and the hash of Domain's secret.
//   - Any other address becomes SRS0=HHHH=TT=domain=local@Domain.
//
// Forward fails with ErrTooLong when the rewritten local part is longer
// than 64 octets, and with another error when from is not an address or
// the Rewriter is not set up.
func (r *Rewriter) Forward(from string) (string, error) {
	if from == "" {
		return "", nil
	}
	fwd, err := r.check()
	if err != nil {
		return "", err
	}
	local, domain, err := splitAddress(from)
	if err != nil {
		return "", fmt.Errorf("srs: cannot forward %q: %v", cut(from), err)
	}
	host, err := embeddedDomain(domain)
	if err != nil {
		return "", fmt.Errorf("srs: cannot forward %q: %v", cut(from), err)
	}
	if ascii.Lower(host) == fwd {
		return from, nil
	}
	q := quoteLocal(r.rewrite(local, host))
	if len(q) > maxLocalPart {
		return "", fmt.Errorf("%w: %q would be %d octets (at most %d, RFC 5321 §4.5.3.1.1)",
			ErrTooLong, cut(from), len(q), maxLocalPart)
	}
	return q + "@" + fwd, nil
}

// rewrite returns the SRS local part, unquoted, for local@host.
func (r *Rewriter) rewrite(local, host string) string {
	tag, rest := srsTag(local)
	if tag == "SRS0" {
		// Another forwarder's SRS0: name it and keep what follows
		// "SRS0", separator included, for its own Reverse to check.
		return "SRS1=" + r.hash(0, host, local[4:]) + "=" + host + "=" + local[4:]
	}
	if hash, first, inner := split3(rest); tag == "SRS1" && hash != "" && inner != "" && isHost(first) {
		// Another forwarder's SRS1: keep the first forwarder and what
		// follows it, signed with our secret. One that does not parse
		// is wrapped as any other sender.
		return "SRS1=" + r.hash(0, first, inner) + "=" + first + "=" + inner
	}
	stamp := timestamp(r.now())
	return "SRS0=" + r.hash(0, stamp, host, local) + "=" + stamp + "=" + host + "=" + local
}

// Reverse returns the address that an SRS address at Domain stands for: the
// original sender for SRS0, the SRS0 address at the first forwarder for
// SRS1. It fails with ErrNotSRS for an address that is not an SRS address
// at Domain, ErrForged for one that does not parse or whose hash none of the
// Secrets made, and ErrExpired for an SRS0 address older than MaxAge or
// dated more than a day ahead.
func (r *Rewriter) Reverse(rcpt string) (string, error) {
	fwd, err := r.check()
	if err != nil {
		return "", err
	}
	at := strings.LastIndexByte(rcpt, '@')
	if at < 0 {
		return "", fmt.Errorf("%w: %q has no @%s", ErrNotSRS, cut(rcpt), fwd)
	}
	if d, err := embeddedDomain(rcpt[at+1:]); err != nil || ascii.Lower(d) != fwd {
		return "", fmt.Errorf("%w: %q is not at %s", ErrNotSRS, cut(rcpt), fwd)
	}
	local, _, err := splitAddress(rcpt)
	if err != nil {
		if !IsSRS(rcpt) {
			return "", fmt.Errorf("%w: %q", ErrNotSRS, cut(rcpt))
		}
		return "", fmt.Errorf("%w: %q: %v", ErrForged, cut(rcpt), err)
	}
	tag, rest := srsTag(local)
	forged := func(why string) error {
		return fmt.Errorf("%w: %q: %s", ErrForged, cut(rcpt), why)
	}
	switch tag {
	case "SRS0":
		hash, stamp, host, user, ok := splitSRS0(rest)
		if !ok {
			return "", forged("not SRS0=hash=timestamp=domain=local")
		}
		if !r.verify(hash, stamp, host, user) {
			return "", forged("the hash does not match")
		}
		then, ok := parseTimestamp(stamp)
		if !ok {
			return "", forged("bad timestamp")
		}
		if age := r.age(then); age != "" {
			return "", fmt.Errorf("%w: %q: %s", ErrExpired, cut(rcpt), age)
		}
		return quoteLocal(user) + "@" + host, nil
	case "SRS1":
		hash, first, inner := split3(rest)
		if hash == "" || inner == "" || !isHost(first) {
			return "", forged("not SRS1=hash=forwarder=rest")
		}
		if !r.verify(hash, first, inner) {
			return "", forged("the hash does not match")
		}
		return quoteLocal("SRS0"+inner) + "@" + first, nil
	}
	return "", fmt.Errorf("%w: %q", ErrNotSRS, cut(rcpt))
}

// IsSRS reports whether addr's local part (all of addr when it has no @)
// begins with SRS0 or SRS1, in any case, followed by one of the separators
// "=", "+" or "-" that libsrs2 accepts. It says nothing of whether the
// address is valid: Reverse checks that.
func IsSRS(addr string) bool {
	local := addr
	if l, _, err := splitAddress(addr); err == nil {
		local = l
	} else if strings.HasPrefix(addr, `"`) {
		local = strings.TrimPrefix(addr, `"`)
	}
	tag, _ := srsTag(local)
	return tag != ""
}

// check returns the forwarding domain in the form addresses are compared
// and written in, or why the Rewriter cannot be used.
func (r *Rewriter) check() (string, error) {
	if len(r.Secrets) == 0 {
		return "", errors.New("srs: Rewriter has no Secrets")
	}
	for i, s := range r.Secrets {
		if len(s) < minSecret {
			return "", fmt.Errorf("srs: Rewriter.Secrets[%d] is %d bytes, want at least %d", i, len(s), minSecret)
		}
	}
	if r.Domain == "" {
		return "", errors.New("srs: Rewriter has no Domain")
	}
	d, err := embeddedDomain(r.Domain)
	if err != nil {
		return "", fmt.Errorf("srs: Rewriter.Domain: %v", err)
	}
	if strings.HasPrefix(d, "[") {
		return "", fmt.Errorf("srs: Rewriter.Domain %q is not a domain name", r.Domain)
	}
	return ascii.Lower(d), nil
}

func (r *Rewriter) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// age says why an address stamped on day then (modulo 1024) is too old or
// too new today, or returns "".
func (r *Rewriter) age(then int) string {
	maxAge := r.MaxAge
	if maxAge < 0 {
		return ""
	}
	if maxAge == 0 {
		maxAge = DefaultMaxAge
	}
	maxDays := int((maxAge + day - 1) / day)
	days := (dayNumber(r.now()) - then) % timestampSlots
	if days < 0 {
		days += timestampSlots
	}
	switch {
	case days <= maxDays:
		return ""
	case days == timestampSlots-1:
		// A day ahead: the clock of another host of the same forwarder.
		return ""
	case days > timestampSlots/2:
		return fmt.Sprintf("dated %d days ahead", timestampSlots-days)
	}
	return fmt.Sprintf("made %d days ago, more than %d", days, maxDays)
}

// cut shortens an address quoted in an error: a stranger chooses it.
func cut(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
