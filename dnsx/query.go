package dnsx

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Querier asks one DNS question and says how long the answer may be kept.
// [Client] and [Cache] implement it; [FixedTTL] makes one of any [Resolver].
//
// Query returns an Answer for every reply that settles the question: records
// found, the name not existing (NXDOMAIN), or no records of that type
// (NODATA). It returns an error, always a *net.DNSError, only when no such
// reply was had: a timeout, SERVFAIL, REFUSED or a network failure, all
// temporary; or a name that is not a domain name and cannot be asked about,
// which is not found (IsNotFound), as no server could ever answer it.
type Querier interface {
	Query(ctx context.Context, name string, qtype uint16) (Answer, error)
}

// Answer is the reply to one question.
type Answer struct {
	// Rcode is dns.RcodeSuccess, or dns.RcodeNameError when the name does
	// not exist (NXDOMAIN, RFC 1035 §4.1.1).
	Rcode int

	// Records is the answer section: the records of the asked type and the
	// CNAME records that led to them (RFC 1034 §4.3.2). It is shared with
	// other callers when it comes from a Cache, so it must not be modified.
	Records []dns.RR

	// TTL is how long the answer may be kept: the smallest TTL among
	// Records, or for an answer without records the negative caching time
	// of RFC 2308 §5, the smaller of the SOA record's TTL and its MINIMUM
	// field. It is zero when the answer must not be kept, as for a negative
	// answer without an SOA record.
	TTL time.Duration

	// Server is the nameserver that answered, host:port, when known.
	Server string
}

// records returns the records of type qtype in a.
func (a Answer) records(qtype uint16) []dns.RR {
	var out []dns.RR
	for _, rr := range a.Records {
		if rr.Header().Rrtype == qtype {
			out = append(out, rr)
		}
	}
	return out
}

// lookup asks q about name and qtype and returns the records of that type,
// with a not-found error when there are none.
func lookup(ctx context.Context, q Querier, name string, qtype uint16) ([]dns.RR, error) {
	a, err := q.Query(ctx, name, qtype)
	if err != nil {
		return nil, failure(name, a.Server, err)
	}
	rrs := a.records(qtype)
	if len(rrs) == 0 {
		return nil, notFound(name, a.Server, a.Rcode == dns.RcodeNameError)
	}
	return rrs, nil
}

// lookupTXT is [Resolver.LookupTXT] on q: one string per TXT record, its
// character-strings joined without separator, as *net.Resolver does.
func lookupTXT(ctx context.Context, q Querier, name string) ([]string, error) {
	rrs, err := lookup(ctx, q, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, joinTXT(rr.(*dns.TXT).Txt))
	}
	return out, nil
}

// lookupMX is [Resolver.LookupMX] on q, sorted by preference.
func lookupMX(ctx context.Context, q Querier, name string) ([]*net.MX, error) {
	rrs, err := lookup(ctx, q, name, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	out := make([]*net.MX, 0, len(rrs))
	for _, rr := range rrs {
		mx := rr.(*dns.MX)
		out = append(out, &net.MX{Host: mx.Mx, Pref: mx.Preference})
	}
	slices.SortStableFunc(out, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
	return out, nil
}

// lookupIPAddr is [Resolver.LookupIPAddr] on q: the A and AAAA records of
// host, asked in parallel. If either question fails other than by not
// finding records, that failure is returned, so that a caller never acts on
// half an answer.
func lookupIPAddr(ctx context.Context, q Querier, host string) ([]net.IPAddr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []net.IPAddr{{IP: net.IP(ip.AsSlice()), Zone: ip.Zone()}}, nil
	}
	type result struct {
		rrs []dns.RR
		err error
	}
	aaaa := make(chan result, 1)
	go func() {
		rrs, err := lookup(ctx, q, host, dns.TypeAAAA)
		aaaa <- result{rrs, err}
	}()
	rrs4, err4 := lookup(ctx, q, host, dns.TypeA)
	r6 := <-aaaa
	switch {
	case err4 != nil && !IsNotFound(err4):
		return nil, err4
	case r6.err != nil && !IsNotFound(r6.err):
		return nil, r6.err
	case err4 != nil && r6.err != nil:
		return nil, err4
	}
	var out []net.IPAddr
	for _, rr := range append(rrs4, r6.rrs...) {
		switch rr := rr.(type) {
		case *dns.A:
			out = append(out, net.IPAddr{IP: rr.A})
		case *dns.AAAA:
			out = append(out, net.IPAddr{IP: rr.AAAA})
		}
	}
	return out, nil
}

// lookupAddr is [Resolver.LookupAddr] on q: the PTR names of addr.
func lookupAddr(ctx context.Context, q Querier, addr string) ([]string, error) {
	arpa, err := dns.ReverseAddr(addr)
	if err != nil {
		return nil, permanent(addr, "", errBadAddress)
	}
	rrs, err := lookup(ctx, q, arpa, dns.TypePTR)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, rr.(*dns.PTR).Ptr)
	}
	return out, nil
}

// joinTXT joins the character-strings of one TXT record (RFC 1035 §3.3.14)
// into one string, undoing the escapes miekg/dns writes for quotes,
// backslashes and unprintable bytes.
func joinTXT(parts []string) string {
	if len(parts) == 1 && strings.IndexByte(parts[0], '\\') < 0 {
		return parts[0]
	}
	var b strings.Builder
	for _, p := range parts {
		if strings.IndexByte(p, '\\') < 0 {
			b.WriteString(p)
			continue
		}
		for i := 0; i < len(p); i++ {
			c := p[i]
			if c != '\\' || i+1 >= len(p) {
				b.WriteByte(c)
				continue
			}
			if i+3 < len(p) && isDigit(p[i+1]) && isDigit(p[i+2]) && isDigit(p[i+3]) {
				if n := int(p[i+1]-'0')*100 + int(p[i+2]-'0')*10 + int(p[i+3]-'0'); n < 256 {
					b.WriteByte(byte(n))
					i += 3
					continue
				}
			}
			b.WriteByte(p[i+1])
			i++
		}
	}
	return b.String()
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// escapeTXT writes s in the escaped form miekg/dns keeps TXT strings in.
func escapeTXT(s string) string {
	i := 0
	for i < len(s) && s[i] >= ' ' && s[i] <= '~' && s[i] != '"' && s[i] != '\\' {
		i++
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 3*(len(s)-i))
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < ' ' || c > '~':
			b.Write([]byte{'\\', '0' + c/100, '0' + c/10%10, '0' + c%10})
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// maxNameOctets is the longest a domain name may be in wire form, its
// length octets and final root label included (RFC 1035 §3.1).
const maxNameOctets = 255

// canonical returns name in lower case with a final dot, or false when it
// is not a domain name that can be put in a query: empty, with an empty
// label, a label over 63 octets, over 255 octets in wire form (253 in text
// without the final dot), or anything else miekg/dns refuses to pack (RFC
// 1035 §2.3.4, §3.1). Only ASCII letters are lowered (RFC 4343 §3): other
// bytes are kept as they are, so a name is never changed into another.
func canonical(name string) (string, bool) {
	if name == "" {
		return "", false
	}
	fq := name
	if !endsInDot(fq) {
		fq += "."
	}
	if !endsInDot(fq) {
		return "", false // the name ended in a lone backslash
	}
	fq = lowerASCII(fq)
	// miekg/dns packs names of 256 octets where RFC 1035 §3.1 allows 255,
	// and its IsFqdn miscounts backslashes after a non-ASCII letter: check
	// both here.
	var buf [256]byte
	n, err := dns.PackDomainName(fq, buf[:], 0, nil, false)
	if err != nil || n > maxNameOctets {
		return "", false
	}
	return fq, true
}

// endsInDot reports whether s ends in a dot that is not escaped: one after
// an even number of backslashes.
func endsInDot(s string) bool {
	if !strings.HasSuffix(s, ".") {
		return false
	}
	n := 0
	for i := len(s) - 2; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n%2 == 0
}

// lowerASCII returns s with its ASCII capitals lowered, and s itself when
// it has none. strings.ToLower, which dns.CanonicalName uses, would turn
// bytes that are not UTF-8 into U+FFFD and so change, or lengthen, the name.
func lowerASCII(s string) string {
	i := 0
	for i < len(s) && (s[i] < 'A' || s[i] > 'Z') {
		i++
	}
	if i == len(s) {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if 'A' <= b[i] && b[i] <= 'Z' {
			b[i] += 'a' - 'A'
		}
	}
	return string(b)
}
