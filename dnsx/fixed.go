package dnsx

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// FixedTTL returns a [Querier] that answers through r, for a [Cache] in
// front of a resolver that does not report TTLs, such as *net.Resolver.
// Every answer, negative ones included, is given the TTL ttl.
//
// It answers A, AAAA, MX, TXT and PTR questions, and CNAME questions when r
// also has a LookupCNAME method as *net.Resolver does. Since r does not say
// whether a name exists, a not-found error becomes an empty answer (NODATA)
// rather than NXDOMAIN.
func FixedTTL(r Resolver, ttl time.Duration) Querier {
	return fixedTTL{r: r, ttl: ttl}
}

type fixedTTL struct {
	r   Resolver
	ttl time.Duration
}

type cnameResolver interface {
	LookupCNAME(ctx context.Context, host string) (string, error)
}

// Query asks r the question that matches qtype and turns its answer into
// records.
func (f fixedTTL) Query(ctx context.Context, name string, qtype uint16) (Answer, error) {
	fq, ok := canonical(name)
	if !ok {
		return Answer{}, invalidName(name, "")
	}
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: fq, Rrtype: t, Class: dns.ClassINET, Ttl: uint32(f.ttl / time.Second)}
	}
	var rrs []dns.RR
	var err error
	switch qtype {
	case dns.TypeA, dns.TypeAAAA:
		var addrs []net.IPAddr
		addrs, err = f.r.LookupIPAddr(ctx, name)
		for _, a := range addrs {
			if ip4 := a.IP.To4(); ip4 != nil && qtype == dns.TypeA {
				rrs = append(rrs, &dns.A{Hdr: hdr(qtype), A: ip4})
			} else if ip4 == nil && qtype == dns.TypeAAAA {
				rrs = append(rrs, &dns.AAAA{Hdr: hdr(qtype), AAAA: a.IP})
			}
		}
	case dns.TypeMX:
		var mxs []*net.MX
		mxs, err = f.r.LookupMX(ctx, name)
		for _, mx := range mxs {
			rrs = append(rrs, &dns.MX{Hdr: hdr(qtype), Preference: mx.Pref, Mx: dns.Fqdn(mx.Host)})
		}
	case dns.TypeTXT:
		var txts []string
		txts, err = f.r.LookupTXT(ctx, name)
		for _, t := range txts {
			rrs = append(rrs, &dns.TXT{Hdr: hdr(qtype), Txt: []string{escapeTXT(t)}})
		}
	case dns.TypePTR:
		addr, ok := reverseName(fq)
		if !ok {
			return Answer{}, permanent(name, "", errBadAddress)
		}
		var names []string
		names, err = f.r.LookupAddr(ctx, addr.String())
		for _, n := range names {
			rrs = append(rrs, &dns.PTR{Hdr: hdr(qtype), Ptr: dns.Fqdn(n)})
		}
	case dns.TypeCNAME:
		cr, ok := f.r.(cnameResolver)
		if !ok {
			return Answer{}, permanent(name, "", "resolver cannot ask for CNAME records")
		}
		var target string
		target, err = cr.LookupCNAME(ctx, name)
		if err == nil && lowerASCII(dns.Fqdn(target)) != fq {
			rrs = append(rrs, &dns.CNAME{Hdr: hdr(qtype), Target: dns.Fqdn(target)})
		}
	default:
		return Answer{}, permanent(name, "", "resolver cannot ask for "+dns.TypeToString[qtype]+" records")
	}
	if err != nil && !IsNotFound(err) {
		return Answer{}, failure(name, "", err)
	}
	return Answer{Rcode: dns.RcodeSuccess, Records: rrs, TTL: f.ttl}, nil
}

// reverseName returns the address that a reverse name under in-addr.arpa
// (RFC 1035 §3.5) or ip6.arpa (RFC 3596 §2.5) stands for.
func reverseName(fq string) (netip.Addr, bool) {
	labels := dns.SplitDomainName(fq)
	switch {
	case strings.HasSuffix(fq, ".in-addr.arpa.") && len(labels) == 6:
		var b [4]byte
		for i := range 4 {
			n, err := strconv.ParseUint(labels[3-i], 10, 8)
			if err != nil {
				return netip.Addr{}, false
			}
			b[i] = byte(n)
		}
		return netip.AddrFrom4(b), true
	case strings.HasSuffix(fq, ".ip6.arpa.") && len(labels) == 34:
		var b [16]byte
		for i := range 32 {
			n, err := strconv.ParseUint(labels[31-i], 16, 4)
			if err != nil || len(labels[31-i]) != 1 {
				return netip.Addr{}, false
			}
			b[i/2] |= byte(n) << (4 * (1 - i%2))
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}
