package mtasts

import (
	"strings"
	"time"
)

// Mode is a policy's mode (RFC 8461 §3.2).
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

// Policy is a domain's MTA-STS policy (RFC 8461 §3.2).
type Policy struct {
	// ID is the id= of the domain's "_mta-sts" TXT record when the policy
	// was fetched: a new ID means a new policy.
	ID string
	// Mode is the policy's mode.
	Mode Mode
	// MX holds the policy's mx patterns: host names, and wildcards such
	// as "*.example.net" that stand for one label.
	MX []string
	// MaxAge is how long the policy may be cached (max_age).
	MaxAge time.Duration
}

// Match reports whether host, an MX host name, matches one of the
// policy's mx patterns (RFC 8461 §4.1): names compare without regard to
// ASCII case or a final dot, and a pattern "*.example.net" matches a name
// with exactly one more label on the left, "mx.example.net" but neither
// "example.net" nor "a.mx.example.net".
func (p *Policy) Match(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "" {
		return false
	}
	for _, pattern := range p.MX {
		pattern = strings.ToLower(strings.TrimSuffix(pattern, "."))
		if rest, ok := strings.CutPrefix(pattern, "*."); ok {
			label, parent, found := strings.Cut(host, ".")
			if found && label != "" && parent == rest {
				return true
			}
			continue
		}
		if pattern == host {
			return true
		}
	}
	return false
}
