package dnsx

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/miekg/dns"
)

// Default settings of a [Client].
const (
	// DefaultTimeout is how long a Client waits for one reply.
	DefaultTimeout = 2 * time.Second
	// DefaultAttempts is how many times a Client sends a query over UDP
	// before giving up on a server that does not answer.
	DefaultAttempts = 2
	// udpSize is the EDNS0 buffer size a Client advertises: the value
	// agreed for DNS Flag Day 2020, small enough to avoid fragmentation.
	udpSize = 1232
)

// Client is a [Resolver] and a [Querier] that sends every query to one
// nameserver, which is expected to resolve recursively or to be
// authoritative for the names asked: for tests against a dnstest.Server,
// for split-horizon setups, and for users who run their own resolver.
//
// Queries go over UDP with EDNS0 (RFC 6891) and are repeated over TCP when
// the reply is truncated (RFC 7766 §5). Every error is a *net.DNSError:
// NXDOMAIN, empty answers and names that are not domain names (never sent)
// set IsNotFound; timeouts set IsTimeout and
// IsTemporary; SERVFAIL, REFUSED and network failures set IsTemporary. This
// is what blitiri.com.ar/go/spf needs to tell temperror from none.
//
// A Client has no cache; put a [Cache] in front of it. Its methods are safe
// for concurrent use.
type Client struct {
	// Nameserver is the server's address, host:port.
	Nameserver string

	// Timeout is how long to wait for each reply; zero means
	// DefaultTimeout. A deadline on the context also applies.
	Timeout time.Duration

	// Attempts is how many times a query is sent over UDP when no reply
	// comes; zero means DefaultAttempts.
	Attempts int
}

// NewResolver returns a Client that sends every query to nameserver, given
// as host:port. A nameserver without a port gets port 53.
func NewResolver(nameserver string) *Client {
	if _, _, err := net.SplitHostPort(nameserver); err != nil {
		nameserver = net.JoinHostPort(nameserver, "53")
	}
	return &Client{Nameserver: nameserver}
}

// LookupTXT returns the TXT records of name, each record's
// character-strings joined into one string as *net.Resolver does.
func (c *Client) LookupTXT(ctx context.Context, name string) ([]string, error) {
	return lookupTXT(ctx, c, name)
}

// LookupMX returns the MX records of name sorted by preference. It does not
// apply the implicit MX rule; [LookupMX] does.
func (c *Client) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	return lookupMX(ctx, c, name)
}

// LookupIPAddr returns the IPv4 and IPv6 addresses of host.
func (c *Client) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	return lookupIPAddr(ctx, c, host)
}

// LookupAddr returns the names that the PTR records of addr point to.
func (c *Client) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	return lookupAddr(ctx, c, addr)
}

// Query asks the nameserver about name and qtype (dns.TypeA, dns.TypeMX,
// ...), following the [Querier] contract.
func (c *Client) Query(ctx context.Context, name string, qtype uint16) (Answer, error) {
	server := c.Nameserver
	fq, ok := canonical(name)
	if !ok {
		return Answer{Server: server}, invalidName(name, server)
	}
	if err := ctx.Err(); err != nil {
		return Answer{Server: server}, failure(name, server, err)
	}
	m := new(dns.Msg)
	m.SetQuestion(fq, qtype)
	m.SetEdns0(udpSize, false)

	attempts := c.Attempts
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	var resp *dns.Msg
	var err error
	for range attempts {
		resp, err = c.exchange(ctx, "udp", m)
		if !isTimeout(err) || ctx.Err() != nil {
			break
		}
	}
	if err == nil && resp.Truncated {
		resp, err = c.exchange(ctx, "tcp", m)
	}
	if err != nil {
		return Answer{Server: server}, failure(name, server, err)
	}
	if len(resp.Question) != 1 || resp.Question[0].Qtype != qtype || !sameName(resp.Question[0].Name, fq) {
		return Answer{Server: server}, temporary(name, server, errBadReply, nil)
	}
	switch resp.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	case dns.RcodeServerFailure:
		return Answer{Server: server}, temporary(name, server, errServFail, nil)
	case dns.RcodeRefused:
		return Answer{Server: server}, temporary(name, server, errRefused, nil)
	default:
		return Answer{Server: server}, temporary(name, server,
			"server answered "+dns.RcodeToString[resp.Rcode], nil)
	}

	a := Answer{Rcode: resp.Rcode, Server: server}
	for _, rr := range resp.Answer {
		h := rr.Header()
		if h.Class == dns.ClassINET && (h.Rrtype == qtype || h.Rrtype == dns.TypeCNAME) {
			a.Records = append(a.Records, rr)
		}
	}
	a.TTL = answerTTL(resp, a.Records, qtype)
	return a, nil
}

// exchange sends m over network ("udp" or "tcp") and waits for the reply,
// for at most the Client's timeout.
func (c *Client) exchange(ctx context.Context, network string, m *dns.Msg) (*dns.Msg, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	dc := &dns.Client{Net: network, Timeout: timeout, UDPSize: udpSize}
	co, err := dc.DialContext(ctx, c.Nameserver)
	if err != nil {
		return nil, err
	}
	defer co.Close()
	// ExchangeWithConnContext honours the context's deadline but not its
	// cancellation: unblock the read when the context ends.
	stop := context.AfterFunc(ctx, func() { co.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	resp, _, err := dc.ExchangeWithConnContext(ctx, m, co)
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return resp, err
}

// sameName reports whether a and b are the same domain name, comparing
// their wire forms without regard to ASCII case (RFC 4343 §3), so that
// escaped and unescaped spellings of one name match.
func sameName(a, b string) bool {
	var bufA, bufB [256]byte
	na, errA := dns.PackDomainName(a, bufA[:], 0, nil, false)
	nb, errB := dns.PackDomainName(b, bufB[:], 0, nil, false)
	return errA == nil && errB == nil && equalFoldASCII(bufA[:na], bufB[:nb])
}

// equalFoldASCII reports whether a and b are equal but for the case of
// ASCII letters. bytes.EqualFold would also fold Unicode letters, and take
// any two bytes that are not UTF-8 for the same.
func equalFoldASCII(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		ca, cb := a[i], b[i]
		if 'A' <= ca && ca <= 'Z' {
			ca += 'a' - 'A'
		}
		if 'A' <= cb && cb <= 'Z' {
			cb += 'a' - 'A'
		}
		if ca != cb {
			return false
		}
	}
	return true
}

// isTimeout reports whether err is a timeout worth another attempt.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// answerTTL is how long an answer may be kept: the smallest TTL of its
// records, and when none is of type qtype, no longer than the negative
// caching time of RFC 2308 §5, min(SOA TTL, SOA MINIMUM); zero when there is
// no SOA record to give one.
func answerTTL(resp *dns.Msg, records []dns.RR, qtype uint16) time.Duration {
	ttl := uint32(1<<31 - 1)
	found := false
	for _, rr := range records {
		ttl = min(ttl, rr.Header().Ttl)
		found = found || rr.Header().Rrtype == qtype
	}
	if !found {
		neg, ok := uint32(0), false
		for _, rr := range resp.Ns {
			if soa, isSOA := rr.(*dns.SOA); isSOA {
				neg, ok = min(soa.Hdr.Ttl, soa.Minttl), true
				break
			}
		}
		if !ok {
			return 0
		}
		ttl = min(ttl, neg)
	}
	return time.Duration(ttl) * time.Second
}
