package auth

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"github.com/ownmx/ownmx/dnsx"
)

// Defaults of a Checker's fields.
const (
	// DefaultTimeout bounds each of the SPF, DKIM and DMARC checks of a
	// message. RFC 7208 §4.6.4 asks that an SPF check be given at least 20
	// seconds.
	DefaultTimeout = 20 * time.Second
	// DefaultMaxSignatures is how many DKIM signatures of one message are
	// checked; RFC 6376 §6.1 lets a verifier limit it, and more than a few
	// only cost work.
	DefaultMaxSignatures = 5
	// DefaultMaxHeaderBytes bounds the header of a message that Check reads
	// into memory.
	DefaultMaxHeaderBytes = 256 << 10
)

// Checker checks the SPF, DKIM and DMARC of messages and decides, from the
// sender domain's DMARC policy, what to do with them. Set its fields before
// the first check; it is then safe for concurrent use. The zero value uses
// the machine's resolver and the defaults below.
type Checker struct {
	// Resolver answers the DNS queries. nil means net.DefaultResolver. Put
	// a cache in front of it (dnsx.Cache): one message needs several
	// queries, and mail from one domain asks the same ones again.
	Resolver dnsx.Resolver
	// Timeout bounds each check (SPF, DKIM, DMARC) of a message, DKIM's
	// hashing of the body included; 0 means DefaultTimeout. A check that
	// runs out of time ends in temperror.
	Timeout time.Duration
	// Logger receives one record per message checked by the smtpd glue,
	// and DNS failures. nil means slog.Default(). Message bodies are never
	// logged.
	Logger *slog.Logger
	// Now tells the time for DKIM expiry (x=). nil means time.Now.
	Now func() time.Time
	// Rand returns a number in [0, n); it picks the messages that a DMARC
	// pct= below 100 applies the policy to (RFC 7489 §6.6.4). nil means
	// math/rand/v2.IntN.
	Rand func(n int) int
	// MaxSignatures is how many DKIM signatures of a message are checked,
	// the first ones in header order; 0 means DefaultMaxSignatures.
	MaxSignatures int
	// MaxHeaderBytes bounds the size of the header Check reads; 0 means
	// DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// AnnotateOnly makes the smtpd glue add the Authentication-Results
	// header and nothing else: it never refuses, defers or quarantines a
	// message, whatever the sender domain's policy.
	AnnotateOnly bool
	// QuarantineUnusableFrom puts a message whose From header DMARC cannot
	// judge cleanly (missing, several fields or addresses, or malformed:
	// ErrUnusableFrom) in Junk (Quarantine) instead of refusing it
	// (Reject), unless the policy of one of its domains asks for more.
	// false, the default, refuses such messages as the largest mailbox
	// providers do (RFC 5322 §3.6, RFC 7489 §6.6.1).
	QuarantineUnusableFrom bool
	// SpoolDir is where the smtpd glue spools messages too large for
	// memory; "" means os.TempDir().
	SpoolDir string
	// Trusted lists the networks of clients whose mail the smtpd glue
	// annotates but does not judge: this machine (127.0.0.0/8, ::1/128)
	// and the hosts that hand it their outgoing mail, as Postfix's
	// mynetworks. For such a client MailHandler checks no SPF and
	// Middleware no DKIM or DMARC, so no DNS query is made; the message
	// is never refused, deferred or quarantined for what authentication
	// would say, and its Authentication-Results says none (no check was
	// made) after the fields that claim the server's authserv-id are
	// removed, as for every message (Results.Trusted). A header that
	// cannot be read is still refused (ErrHeaderRefused).
	//
	// Addresses are compared without their zone, and IPv4 addresses as
	// the IPv4-mapped IPv6 addresses that carry them: 127.0.0.0/8
	// trusts ::ffff:127.0.0.1 too. Empty, the default, trusts nobody.
	// SPF and Check, called directly, check whatever they are given.
	Trusted []netip.Prefix
	// Checked, if set, is called by Middleware with the Results of each
	// message whose header it could read, before their verdict is
	// applied, for metrics: the verdicts refused count too, and the
	// messages of Trusted clients (Results.Trusted). It runs on the
	// session's goroutine, for many sessions at once: it must be quick
	// and safe for concurrent use, and must not change the Results.
	Checked func(res *Results)
}

func (c *Checker) resolver() dnsx.Resolver {
	if c.Resolver == nil {
		return net.DefaultResolver
	}
	return c.Resolver
}

func (c *Checker) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

func (c *Checker) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.Default()
	}
	return c.Logger
}

func (c *Checker) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

func (c *Checker) intN(n int) int {
	if c.Rand == nil {
		return rand.IntN(n)
	}
	return c.Rand(n)
}

func (c *Checker) maxSignatures() int {
	if c.MaxSignatures <= 0 {
		return DefaultMaxSignatures
	}
	return c.MaxSignatures
}

func (c *Checker) maxHeaderBytes() int {
	if c.MaxHeaderBytes <= 0 {
		return DefaultMaxHeaderBytes
	}
	return c.MaxHeaderBytes
}

// dnsClass sorts a DNS error into the three cases the RFCs tell apart.
type dnsClass int

const (
	dnsOK        dnsClass = iota
	dnsNotFound           // NXDOMAIN or no record of the type: a definite "no"
	dnsTemporary          // timeout, SERVFAIL, network: ask again later
	dnsPermanent          // a question that cannot be asked, such as a bad name
)

// classify tells what kind of DNS failure err is. Only a *net.DNSError
// (anywhere in the chain) can say "not found" or "permanent"; every other
// error, a context deadline included, is temporary, so that no failure of
// the resolver is ever taken for a definite answer.
func classify(err error) dnsClass {
	if err == nil {
		return dnsOK
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		switch {
		case de.IsNotFound:
			return dnsNotFound
		case de.IsTemporary || de.IsTimeout:
			return dnsTemporary
		}
		return dnsPermanent
	}
	return dnsTemporary
}

// normalize returns err as a bare *net.DNSError whose flags say what
// classify found. The spf and dkim packages look at the error's own type
// (no errors.As) and take anything else for a permanent failure; this is
// what keeps a timeout from ending as permerror.
func normalize(name string, err error) error {
	if err == nil {
		return nil
	}
	var de *net.DNSError
	errors.As(err, &de)
	switch classify(err) {
	case dnsNotFound:
		return &net.DNSError{Err: "no such record", Name: name, IsNotFound: true, UnwrapErr: err}
	case dnsPermanent:
		return &net.DNSError{Err: de.Err, Name: name, Server: de.Server, UnwrapErr: err}
	}
	timeout := errors.Is(err, context.DeadlineExceeded) || (de != nil && de.IsTimeout)
	return &net.DNSError{Err: "temporary failure: " + err.Error(), Name: name,
		IsTemporary: true, IsTimeout: timeout, UnwrapErr: err}
}

// guarded is the resolver handed to the spf package: every error comes out
// normalized.
type guarded struct{ r dnsx.Resolver }

func (g guarded) LookupTXT(ctx context.Context, name string) ([]string, error) {
	v, err := g.r.LookupTXT(ctx, name)
	return v, normalize(name, err)
}

func (g guarded) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	v, err := g.r.LookupMX(ctx, name)
	return v, normalize(name, err)
}

func (g guarded) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	v, err := g.r.LookupIPAddr(ctx, host)
	return v, normalize(host, err)
}

func (g guarded) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	v, err := g.r.LookupAddr(ctx, addr)
	return v, normalize(addr, err)
}
