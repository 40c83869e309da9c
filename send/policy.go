package send

import (
	"context"

	"github.com/ownmx/ownmx/mtasts"
)

// PolicySource gives the MTA-STS policy (RFC 8461) of a recipient domain;
// *mtasts.Fetcher is one.
//
// Policy is called with the domain in A-labels, lower case, without a
// final dot. It returns nil and no error when the domain has no policy
// to apply: it publishes none, or, as RFC 8461 §5.1 asks, its policy
// cannot be fetched and none is cached. An error means the source cannot
// tell now; Send then returns a temporary error and sends nothing, rather
// than send mail without the protection the domain may have asked for.
type PolicySource interface {
	Policy(ctx context.Context, domain string) (*mtasts.Policy, error)
}

// PolicyFunc adapts a function to PolicySource.
type PolicyFunc func(ctx context.Context, domain string) (*mtasts.Policy, error)

// Policy calls f(ctx, domain).
func (f PolicyFunc) Policy(ctx context.Context, domain string) (*mtasts.Policy, error) {
	return f(ctx, domain)
}
