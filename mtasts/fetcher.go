package mtasts

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ownmx/ownmx/dnsx"
)

// Timings of a Fetcher.
const (
	// DefaultFetchTimeout bounds the fetch of a policy over HTTPS when a
	// Fetcher's FetchTimeout is zero: the minute RFC 8461 §3.3 suggests.
	DefaultFetchTimeout = time.Minute
	// RefreshInterval is the age at which a cached policy is fetched
	// again, when its max_age is longer, even though the record's id has
	// not changed: RFC 8461 §3.3 asks senders to refresh policies before
	// they expire, once a day, so that a policy stays in force through an
	// outage or an attack at the time it would have expired. If the
	// refresh fails, the cached policy is used until its max_age.
	RefreshInterval = 24 * time.Hour
	// FailureBackoff is how long a Fetcher waits, after a failed fetch of
	// a domain's policy, before it tries again for the same record id:
	// the five minutes RFC 8461 §3.3 suggests, so that a failing policy
	// host is not asked again for every message. A new id is fetched at
	// once.
	FailureBackoff = 5 * time.Minute
)

// Fetcher finds, fetches and caches the MTA-STS policies of domains
// (RFC 8461 §3). Set its fields before the first call; it is then safe for
// concurrent use, and must not be copied. The zero value uses the
// machine's resolver and the defaults below.
type Fetcher struct {
	// Resolver looks up the "_mta-sts" TXT records. nil means
	// net.DefaultResolver. A dnsx.Cache in front of it saves a query per
	// message, as Policy looks the record up on every call.
	Resolver dnsx.Resolver
	// Client fetches policies. nil means a client that honours the
	// proxy environment variables, verifies certificates against the
	// system's roots and requires TLS 1.2 or later. Whatever the client,
	// the Fetcher follows no redirect (RFC 8461 §3.3) and sends no
	// cookies; the certificate must verify for mta-sts.<domain>, unless
	// the client's own TLS configuration says otherwise.
	Client *http.Client
	// FetchTimeout bounds each fetch of a policy, body included; zero
	// means DefaultFetchTimeout, negative means none (then only the
	// context and the Client bound it).
	FetchTimeout time.Duration
	// Now tells the time, for the age of cached policies. nil means
	// time.Now.
	Now func() time.Time
	// MaxCached bounds how many domains the Fetcher remembers, the least
	// recently asked for being forgotten first; zero means
	// DefaultMaxCached, negative means no bound.
	MaxCached int
	// Logger receives a record for each policy that cannot be fetched or
	// record that cannot be read: RFC 8461 §3.3 asks that administrators
	// learn of such failures. nil means slog.Default().
	Logger *slog.Logger

	mu      sync.Mutex
	cache   cache              // guarded by mu
	flights map[string]*flight // domain → the resolution under way; guarded by mu

	defaultClientOnce sync.Once
	defaultClient     *http.Client

	// waitHook, when set by a test, is called when a Policy call waits
	// for another call's resolution of the same domain.
	waitHook func()
}

// flight is one resolution of a domain's policy that concurrent Policy
// calls share.
type flight struct {
	done   chan struct{} // closed when policy and err are set
	policy *Policy
	err    error
	// abandoned is set when the call that ran the resolution gave up
	// because its own context ended: the calls waiting for it try again.
	abandoned bool
}

// Policy returns the MTA-STS policy of domain, a recipient domain (for mail
// to a subdomain, the subdomain: RFC 8461 §3.4 forbids looking in parent
// domains). It looks up the domain's "_mta-sts" TXT record on every call
// and fetches the policy from
// https://mta-sts.<domain>/.well-known/mta-sts.txt when the record's id is
// new, or when the cached policy is older than RefreshInterval or its
// max_age; concurrent calls for one domain share one lookup and fetch. A
// domain with Unicode labels is looked up in A-labels.
//
// The answers follow RFC 8461 §3.3 and §5.1:
//
//   - A policy: the cached one while it is younger than its max_age and
//     the record's id is unchanged, else the one fetched now.
//   - The cached policy, while younger than its max_age, whenever no newer
//     one can be had: the record is gone or unreadable (a domain removing
//     its policy publishes mode none first, RFC 8461 §8.3), its DNS lookup
//     fails, or the new policy cannot be fetched.
//   - (nil, nil), "no policy, deliver as before", when no valid policy is
//     cached and the domain publishes no usable record (none, several
//     starting with v=STSv1, or a malformed one: RFC 8461 §3.1), or a
//     record whose policy cannot be fetched or parsed for any reason:
//     RFC 8461 §3.3 says senders MUST then deliver as though the domain
//     had no policy. Such a failure is logged, and the same record id is
//     not fetched again for FailureBackoff.
//   - An error, "try later", when the DNS lookup fails temporarily (or in
//     any way other than "no such record") and no valid policy is cached:
//     whether the domain has a policy cannot be told, and RFC 8461 §5.1
//     forbids failing a message for good before checking for one. The
//     error wraps the resolver's, for dnsx.IsTemporary. The error of ctx
//     is returned when it ends.
//
// A policy in mode none is returned as any other: the caller treats it as
// no policy. The Policy returned is the caller's own copy.
func (f *Fetcher) Policy(ctx context.Context, domain string) (*Policy, error) {
	name, ok := policyDomain(domain)
	if !ok {
		// No policy can be published under a name that is not a host
		// name; the MX lookup of such a domain fails on its own.
		return nil, nil
	}
	for {
		f.mu.Lock()
		if c, ok := f.flights[name]; ok {
			f.mu.Unlock()
			if f.waitHook != nil {
				f.waitHook()
			}
			select {
			case <-c.done:
			case <-ctx.Done():
				return nil, fmt.Errorf("mtasts: policy of %s: %w", name, context.Cause(ctx))
			}
			if c.abandoned {
				continue
			}
			return clonePolicy(c.policy), c.err
		}
		c := &flight{done: make(chan struct{})}
		if f.flights == nil {
			f.flights = map[string]*flight{}
		}
		f.flights[name] = c
		f.mu.Unlock()

		c.policy, c.err = f.resolve(ctx, name)
		c.abandoned = ctx.Err() != nil
		f.mu.Lock()
		delete(f.flights, name)
		f.mu.Unlock()
		close(c.done)
		return clonePolicy(c.policy), c.err
	}
}

// clonePolicy returns a copy of p, or nil.
func clonePolicy(p *Policy) *Policy {
	if p == nil {
		return nil
	}
	return p.clone()
}

// resolve finds the policy of domain, a policy domain in A-labels, as
// Policy describes. It returns a policy that the cache may hold: not to be
// modified.
func (f *Fetcher) resolve(ctx context.Context, domain string) (*Policy, error) {
	now := f.now()
	f.mu.Lock()
	e, _ := f.cache.get(domain)
	f.mu.Unlock()
	cached := e.valid(now)

	id, err := f.lookupID(ctx, domain)
	switch {
	case err != nil && cached != nil:
		// RFC 8461 §3.3: with no live policy to be had, the valid
		// cached one MUST be applied.
		return cached, nil
	case err != nil:
		if ctx.Err() != nil {
			return nil, fmt.Errorf("mtasts: policy of %s: %w", domain, context.Cause(ctx))
		}
		return nil, err
	case id == "":
		if cached == nil {
			f.forget(domain)
		}
		return cached, nil
	case cached != nil && cached.ID == id && e.fresh(now):
		return cached, nil
	case e.failedID == id && now.Sub(e.failedAt) < FailureBackoff:
		return cached, nil
	}

	p, err := f.fetch(ctx, domain, id)
	if err != nil {
		if ctx.Err() != nil {
			// The caller gave up: that says nothing of the policy host.
			return nil, fmt.Errorf("mtasts: policy of %s: %w", domain, context.Cause(ctx))
		}
		if cached == nil || cached.Mode != None {
			f.logger().Warn("mtasts: cannot fetch policy", "domain", domain, "id", id,
				"cached", cached != nil, "err", err)
		}
		f.store(domain, entry{policy: cached, fetched: e.fetched, failedID: id, failedAt: now})
		return cached, nil
	}
	if p.MaxAge > 0 {
		f.store(domain, entry{policy: p, fetched: now})
	} else {
		f.forget(domain)
	}
	return p, nil
}

// lookupID returns the id of domain's "_mta-sts" record, "" when it has
// no usable one (RFC 8461 §3.1), or an error when the lookup fails other
// than with "no such record".
func (f *Fetcher) lookupID(ctx context.Context, domain string) (string, error) {
	// The final dot keeps a system resolver from trying search domains.
	name := "_mta-sts." + domain + "."
	txts, err := f.resolver().LookupTXT(ctx, name)
	if dnsx.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("mtasts: looking up the _mta-sts record of %s: %w", domain, err)
	}
	var records []string
	for _, txt := range txts {
		if isSTSRecord(txt) {
			records = append(records, txt)
		}
	}
	switch len(records) {
	case 0:
		return "", nil
	case 1:
	default:
		f.logger().Info("mtasts: several _mta-sts records, so no policy (RFC 8461 §3.1)",
			"domain", domain, "records", len(records))
		return "", nil
	}
	id, err := ParseRecord(records[0])
	if err != nil {
		f.logger().Info("mtasts: unreadable _mta-sts record, so no policy (RFC 8461 §3.1)",
			"domain", domain, "err", err)
		return "", nil
	}
	return id, nil
}

// store remembers e for domain.
func (f *Fetcher) store(domain string, e entry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cache.put(domain, e, f.maxCached())
}

// forget drops what the Fetcher remembers of domain.
func (f *Fetcher) forget(domain string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cache.remove(domain)
}

// maxCached is MaxCached with its default; negative means no bound.
func (f *Fetcher) maxCached() int {
	switch {
	case f.MaxCached == 0:
		return DefaultMaxCached
	case f.MaxCached < 0:
		return -1
	}
	return f.MaxCached
}

func (f *Fetcher) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

func (f *Fetcher) resolver() dnsx.Resolver {
	if f.Resolver != nil {
		return f.Resolver
	}
	return net.DefaultResolver
}

func (f *Fetcher) logger() *slog.Logger {
	if f.Logger != nil {
		return f.Logger
	}
	return slog.Default()
}
