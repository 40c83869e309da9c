package mtasts

import (
	"slices"
	"strings"
	"time"
)

// Mode is a policy's mode (RFC 8461 §3.2). Its values are the RFC's words.
type Mode string

// The modes of RFC 8461 §5.
const (
	// Enforce: deliver only to MX hosts that match the policy, over TLS
	// with a certificate that verifies for the host's name.
	Enforce Mode = "enforce"
	// Testing: deliver as without a policy, and report failures (TLS-RPT).
	Testing Mode = "testing"
	// None: the domain withdrew its policy.
	None Mode = "none"
)

// MaxMaxAge is the largest max_age a policy may have: 31557600 seconds,
// about a year (RFC 8461 §3.2).
const MaxMaxAge = 31557600 * time.Second

// DefaultMaxAge is the max_age the examples give a domain's own policy
// (examples/inbox -mta-sts, examples/dnscheck -records): a week. RFC 8461
// §3.2 suggests weeks; a week keeps the policy between two messages of
// most senders, and a change of MX hosts reaches every sender within it.
// Both use it so that the "_mta-sts" record one prints has the id of the
// policy the other serves.
const DefaultMaxAge = 7 * 24 * time.Hour

// Policy is a domain's MTA-STS policy (RFC 8461 §3.2).
type Policy struct {
	// ID is the id= of the domain's "_mta-sts" TXT record when the policy
	// was fetched: a new ID means a new policy. Parse leaves it empty.
	ID string
	// Mode is the policy's mode.
	Mode Mode
	// MX holds the policy's mx patterns: host names, and wildcards such
	// as "*.example.net" that stand for one label. Parse writes them in
	// lower case without a final dot.
	MX []string
	// MaxAge is how long the policy may be cached (max_age), at most
	// MaxMaxAge.
	MaxAge time.Duration
}

// Match reports whether host, an MX host name as DNS gives it, matches one
// of the policy's mx patterns (RFC 8461 §4.1). Names compare without regard
// to ASCII case or a final dot; a pattern "*.example.net" matches a name
// with exactly one more label on the left, "mx.example.net" but neither
// "example.net" nor "a.mx.example.net". Internationalized names compare in
// their A-labels ("xn--..."), as RFC 8461 §3.2 has policies write them: a
// host or pattern that is not a host name of RFC 5321 §4.1.2 (an empty
// label, a character other than a letter, digit or hyphen, Unicode) matches
// nothing.
func (p *Policy) Match(host string) bool {
	host, ok := hostName(host)
	if !ok {
		return false
	}
	_, parent, _ := strings.Cut(host, ".")
	for _, pattern := range p.MX {
		rest, wildcard := strings.CutPrefix(pattern, "*.")
		name, ok := hostName(rest)
		switch {
		case !ok:
		case wildcard && name == parent:
			return true
		case !wildcard && name == host:
			return true
		}
	}
	return false
}

// clone returns a copy of p that shares nothing with it.
func (p *Policy) clone() *Policy {
	c := *p
	c.MX = slices.Clone(p.MX)
	return &c
}
