package auth

import (
	"context"
	"log/slog"
	"net/netip"

	"github.com/ownmx/ownmx/smtpd"
)

// trusts reports whether ip is in one of the networks of c.Trusted. Both
// sides are compared as 16-byte IPv6 addresses, IPv4 as IPv4-mapped
// (RFC 4291 §2.5.5.2), without zones: a client reaching a dual-stack
// listener as ::ffff:127.0.0.1 is the same client as 127.0.0.1.
func (c *Checker) trusts(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = netip.AddrFrom16(ip.As16())
	for _, p := range c.Trusted {
		if p.IsValid() && as16(p).Contains(ip) {
			return true
		}
	}
	return false
}

// as16 returns p over 16-byte addresses: an IPv4 prefix becomes the
// IPv4-mapped prefix that covers the same addresses (192.0.2.0/24 is
// ::ffff:192.0.2.0/120).
func as16(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4() {
		return netip.PrefixFrom(netip.AddrFrom16(p.Addr().As16()), p.Bits()+96)
	}
	return p
}

// trustsClient reports whether the client of env is in c.Trusted.
func (c *Checker) trustsClient(env *smtpd.Envelope) bool {
	return len(c.Trusted) > 0 && env.Conn != nil && c.trusts(env.Conn.RemoteAddr.Addr())
}

// trustedResults are the Results of a message from a trusted client:
// nothing checked, every result none, the verdict deliver.
func trustedResults(env *smtpd.Envelope) *Results {
	spf := SPFResult{Result: None, MailFrom: env.From}
	if env.Conn != nil {
		spf.IP, spf.Helo = env.Conn.RemoteAddr.Addr().Unmap(), env.Conn.Helo
	}
	return &Results{
		Trusted: true,
		SPF:     spf,
		DMARC:   DMARCResult{Result: None, Verdict: Deliver},
	}
}

// logTrusted writes the one record of a message from a trusted client.
func (c *Checker) logTrusted(ctx context.Context, env *smtpd.Envelope) {
	c.logger().LogAttrs(ctx, slog.LevelInfo, "message not checked: local client",
		slog.String("conn", connID(env)),
		slog.String("env", env.ID),
		slog.String("from", env.From),
		slog.String("verdict", string(Deliver)),
	)
}
