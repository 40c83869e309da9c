package dnsx

import (
	"context"
	"fmt"
	"net"

	"github.com/miekg/dns"
)

// LookupMX returns the mail exchangers of domain in the order a sender tries
// them, lowest preference first, as RFC 5321 §5.1 says to find them:
//
//   - When domain has MX records, they are returned, sorted by preference.
//   - When it has none but has an A or AAAA record, the domain itself is the
//     one mail exchanger (the implicit MX), returned with preference 0.
//   - When its only MX record is "0 ." it accepts no mail (RFC 7505 §3), and
//     the error is ErrNullMX, wrapped with the domain's name.
//
// Host names are returned fully qualified, with a final dot. Lookup errors
// are *net.DNSError values, told apart with [IsTemporary] and [IsNotFound];
// a domain with neither MX nor address records is not found.
func LookupMX(ctx context.Context, r Resolver, domain string) ([]*net.MX, error) {
	mxs, err := r.LookupMX(ctx, domain)
	if err != nil && !IsNotFound(err) {
		return nil, err
	}
	if err == nil && len(mxs) > 0 {
		if len(mxs) == 1 && (mxs[0].Host == "." || mxs[0].Host == "") {
			return nil, fmt.Errorf("%w: %s", ErrNullMX, domain)
		}
		return mxs, nil
	}
	// RFC 5321 §5.1: no MX records, so the domain is its own mail exchanger
	// if it has an address.
	if _, err := r.LookupIPAddr(ctx, domain); err != nil {
		return nil, err
	}
	return []*net.MX{{Host: dns.Fqdn(domain), Pref: 0}}, nil
}
