package auth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"blitiri.com.ar/go/spf"
)

// SPFResult is the outcome of an SPF check (RFC 7208) of one SMTP
// transaction.
type SPFResult struct {
	// Result is none, neutral, pass, fail, softfail, temperror or
	// permerror (RFC 7208 §2.6).
	Result Result
	// IP is the client's address.
	IP netip.Addr
	// Helo is the name the client gave in EHLO or HELO.
	Helo string
	// MailFrom is the MAIL FROM address, "" for the null sender.
	MailFrom string
	// Domain is the domain whose policy was checked: MAIL FROM's, or the
	// HELO name for the null sender (RFC 7208 §2.4), in the form
	// ASCIIDomain gives (A-labels, lower case, no final dot; RFC 8616 §3).
	// DMARC aligns it with the From header's domain.
	Domain string
	// Err says why the result is not pass, for logs; nil on pass.
	Err error
}

// UsedHelo reports whether the check was of the HELO identity, as for the
// null sender.
func (r SPFResult) UsedHelo() bool { return r.MailFrom == "" }

// SPF checks whether ip may send mail for the MAIL FROM domain (RFC 7208
// §4), or for the HELO name when mailFrom is "" (the null sender of
// bounces, RFC 7208 §2.4). The domain is looked up in its A-label form
// (ASCIIDomain, RFC 8616 §3); one that does not convert, or is not a fully
// qualified domain name, gives none (RFC 7208 §4.3). It never fails:
// trouble is in the result, and a DNS failure that may go away (a timeout,
// SERVFAIL) is temperror.
func (c *Checker) SPF(ctx context.Context, ip netip.Addr, helo, mailFrom string) SPFResult {
	res := SPFResult{IP: ip.Unmap(), Helo: helo, MailFrom: mailFrom}

	local, domain, ok := splitAddress(mailFrom)
	switch {
	case mailFrom == "":
		local, domain = "postmaster", helo
	case !ok || domain == "":
		res.Result, res.Err = None, fmt.Errorf("auth: spf: MAIL FROM %q has no domain", mailFrom)
		return res
	}
	ascii, err := ASCIIDomain(domain)
	if err != nil {
		// RFC 7208 §4.3: a malformed or single-label domain gives none.
		res.Domain = asciiLower(strings.TrimSuffix(domain, "."))
		res.Result, res.Err = None, fmt.Errorf("auth: spf: %w", err)
		return res
	}
	domain = ascii
	res.Domain = domain
	if !res.IP.IsValid() {
		res.Result, res.Err = PermError, errors.New("auth: spf: no client IP address")
		return res
	}
	// The spf package splits the sender at its first "@"; give it a local
	// part without one. The local part only matters to %{l} macros.
	if local == "" || strings.ContainsAny(local, "@\" \\") {
		local = "postmaster"
	}

	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	if h, err := ASCIIDomain(helo); err == nil {
		helo = h // for the %{h} macro
	}
	r, err := spf.CheckHostWithSender(res.IP.AsSlice(), helo, local+"@"+domain,
		spf.WithContext(ctx), spf.WithResolver(guarded{c.resolver()}))
	res.Result = Result(r)
	switch res.Result {
	case Pass:
	case TempError:
		res.Err = fmt.Errorf("auth: spf: %s for %s: %w", r, domain, err)
		c.logger().WarnContext(ctx, "SPF check failed temporarily", "domain", domain, "err", err)
	default:
		if err != nil {
			res.Err = fmt.Errorf("auth: spf: %s for %s: %w", r, domain, err)
		}
	}
	return res
}

// splitAddress splits an address at its last "@", which is right even when
// a quoted local part holds one.
func splitAddress(addr string) (local, domain string, ok bool) {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return addr, "", false
	}
	return addr[:i], addr[i+1:], true
}
