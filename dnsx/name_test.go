package dnsx_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ownmx/ownmx/dnsx"
	"github.com/ownmx/ownmx/dnsx/dnstest"
)

// nameOfLength returns a name of n octets, without a final dot, made of
// 63-octet labels and a shorter last one.
func nameOfLength(n int) string {
	var labels []string
	for c := byte('a'); n > 64; c++ {
		labels = append(labels, strings.Repeat(string(c), 63))
		n -= 64
	}
	return strings.Join(append(labels, strings.Repeat("z", n)), ".")
}

// nameCase is a query name and whether it is a domain name that can be
// asked about.
type nameCase struct {
	section, desc, name string
	valid               bool
}

// nameCases are names at and around each bound of RFC 1035 §2.3.4 (labels
// of 63 octets, names of 255 octets in wire form, so 253 in text without the
// final dot), with and without a final dot, and escapes counting as one
// octet (RFC 1035 §5.1).
func nameCases() []nameCase {
	a62 := strings.Repeat("a", 62)
	return []nameCase{
		{"RFC 1035 §2.3.4 label", "63-octet label", a62 + "a.example.com", true},
		{"RFC 1035 §2.3.4 label", "63-octet label, final dot", a62 + "a.example.com.", true},
		{"RFC 1035 §2.3.4 label", "64-octet label", a62 + "aa.example.com", false},
		{"RFC 1035 §2.3.4 label", "64-octet label, final dot", a62 + "aa.example.com.", false},
		{"RFC 1035 §2.3.4 label", "63-octet last label", "example." + a62 + "a", true},
		{"RFC 1035 §2.3.4 label", "64-octet last label", "example." + a62 + "aa", false},
		{"RFC 1035 §2.3.4 label", "64-octet only label", a62 + "aa", false},
		{"RFC 1035 §5.1 escapes", "63 octets, one escaped", a62 + `\065.example.com`, true},
		{"RFC 1035 §5.1 escapes", "64 octets, one escaped", a62 + `a\065.example.com`, false},
		{"RFC 1035 §5.1 escapes", "63 octets, one an escaped dot", a62 + `\..example.com`, true},
		{"RFC 1035 §5.1 escapes", "64 octets, one an escaped dot", a62 + `a\..example.com`, false},
		{"RFC 1035 §5.1 escapes", "trailing backslash", `example.com\`, false},
		{"RFC 1035 §2.3.4 name", "253 octets", nameOfLength(253), true},
		{"RFC 1035 §2.3.4 name", "253 octets, final dot", nameOfLength(253) + ".", true},
		{"RFC 1035 §2.3.4 name", "254 octets", nameOfLength(254), false},
		{"RFC 1035 §2.3.4 name", "254 octets, final dot", nameOfLength(254) + ".", false},
		{"RFC 1035 §2.3.4 name", "253 octets, one escaped", `\097` + nameOfLength(253)[1:], true},
		{"RFC 1035 §2.3.4 name", "254 octets, one escaped", `\097` + nameOfLength(254)[1:], false},
		{"RFC 1035 §2.3.4 name", "300 octets", nameOfLength(300), false},
		{"RFC 1035 §3.1 empty label", "empty name", "", false},
		{"RFC 1035 §3.1 empty label", "the root", ".", true},
		{"RFC 1035 §3.1 empty label", "empty first label", ".example.com", false},
		{"RFC 1035 §3.1 empty label", "empty middle label", "a..example.com", false},
		{"RFC 1035 §3.1 empty label", "empty last label", "example.com..", false},
		{"RFC 1035 §3.1 empty label", "two dots", "..", false},
		{"RFC 1035 §3.1 empty label", "three dots", "...", false},
	}
}

// nameZone has one TXT record "ok" at every valid name of cases, however
// it is spelled.
func nameZone(cases []nameCase) string {
	var b strings.Builder
	seen := map[string]bool{}
	for _, tc := range cases {
		var wire [256]byte
		n, err := dns.PackDomainName(dns.Fqdn(tc.name), wire[:], 0, nil, false)
		key := strings.ToLower(string(wire[:n])) // the names are ASCII
		if tc.valid && err == nil && !seen[key] {
			seen[key] = true
			fmt.Fprintf(&b, "%s 300 IN TXT ok\n", dns.Fqdn(tc.name))
		}
	}
	return b.String()
}

// failingResolver is an in-memory Resolver whose every lookup fails
// temporarily: what a resolver says about a name is never the reason a bad
// name is not found.
type failingResolver struct{}

func (failingResolver) fail(name string) error {
	return &net.DNSError{Err: "server misbehaving", Name: name, IsTemporary: true}
}

func (r failingResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	return nil, r.fail(name)
}

func (r failingResolver) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	return nil, r.fail(name)
}

func (r failingResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	return nil, r.fail(host)
}

func (r failingResolver) LookupAddr(_ context.Context, addr string) ([]string, error) {
	return nil, r.fail(addr)
}

// A name that is not a domain name is a permanent not-found error on every
// path, whatever the nameserver or resolver behind would say, and is never
// sent; a valid name at the bound is asked about.
func TestInvalidNamesNotFound(t *testing.T) {
	cases := nameCases()
	srv := dnstest.NewServer(t, nameZone(cases))
	live := dnsx.NewResolver(srv.Addr)
	live.Timeout = 2 * time.Second
	dead := dnsx.NewResolver(deadAddr(t))
	dead.Timeout, dead.Attempts = 100*time.Millisecond, 1

	// Each path, and whether a valid name is found through it.
	paths := []struct {
		name  string
		q     dnsx.Querier
		found bool
	}{
		{"Client", live, true},
		{"Cache over Client", dnsx.NewCache(live, 0), true},
		{"Client, nobody listening", dead, false},
		{"Cache over Client, nobody listening", dnsx.NewCache(dead, 0), false},
		{"FixedTTL over failing resolver", dnsx.FixedTTL(failingResolver{}, time.Minute), false},
		{"Cache over FixedTTL over failing resolver", dnsx.NewCache(dnsx.FixedTTL(failingResolver{}, time.Minute), 0), false},
	}
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.section+"/"+tc.desc, func(t *testing.T) {
					a, err := p.q.Query(t.Context(), tc.name, dns.TypeTXT)
					switch {
					case tc.valid && p.found:
						if err != nil || len(a.Records) != 1 {
							t.Errorf("Query = %v, %v; want the TXT record", a.Records, err)
						}
					case tc.valid:
						if !dnsx.IsTemporary(err) {
							t.Errorf("Query: err %v, want the temporary failure of the server", err)
						}
					default:
						checkInvalidName(t, tc.name, err)
					}
				})
			}
		})
	}
}

// Every lookup method of every Resolver reports a bad name the same way.
func TestInvalidNamesLookups(t *testing.T) {
	srv := dnstest.NewServer(t, cacheZone)
	resolvers := map[string]dnsx.Resolver{
		"Client": dnsx.NewResolver(srv.Addr),
		"Cache":  dnsx.NewCache(dnsx.NewResolver(srv.Addr), 0),
	}
	for rname, r := range resolvers {
		for _, tc := range nameCases() {
			if tc.valid {
				continue
			}
			t.Run(rname+"/"+tc.desc, func(t *testing.T) {
				ctx := t.Context()
				_, err := r.LookupTXT(ctx, tc.name)
				checkInvalidName(t, tc.name, err)
				_, err = r.LookupMX(ctx, tc.name)
				checkInvalidName(t, tc.name, err)
				_, err = r.LookupIPAddr(ctx, tc.name)
				checkInvalidName(t, tc.name, err)
				_, err = dnsx.LookupMX(ctx, r, tc.name)
				checkInvalidName(t, tc.name, err)
			})
		}
	}
}

// checkInvalidName checks that err is the error for the bad name name: a
// bare *net.DNSError, as blitiri.com.ar/go/spf needs it, not found, neither
// temporary nor a timeout, naming name.
func checkInvalidName(t *testing.T, name string, err error) {
	t.Helper()
	de, ok := err.(*net.DNSError)
	if !ok {
		t.Errorf("error %v (%T), want a bare *net.DNSError", err, err)
		return
	}
	if !de.IsNotFound || de.IsTemporary || de.IsTimeout || de.Temporary() {
		t.Errorf("%q: IsNotFound %v, IsTemporary %v, IsTimeout %v; want a permanent not-found",
			de.Err, de.IsNotFound, de.IsTemporary, de.IsTimeout)
	}
	if de.Name != name || !strings.Contains(de.Error(), "invalid domain name") {
		t.Errorf("error %q for %q does not say the name %q is invalid", de.Err, de.Name, name)
	}
}
