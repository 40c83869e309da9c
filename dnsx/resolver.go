package dnsx

import (
	"context"
	"net"
)

// Resolver is the part of *net.Resolver that ownmx uses. *net.Resolver
// satisfies it, and so does blitiri.com.ar/go/spf's resolver option.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}
