package dnsx_test

import (
	"context"
	"errors"
	"net"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"blitiri.com.ar/go/spf"
	"github.com/miekg/dns"

	"github.com/ownmx/ownmx/dnsx"
	"github.com/ownmx/ownmx/dnsx/dnstest"
)

var clientZone = `
$ORIGIN example.com.
@        3600 IN SOA ns.example.com. hostmaster.example.com. 1 7200 900 1209600 300
@             IN MX  20 mx2
@             IN MX  10 mx1
@             IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
mx1           IN A   192.0.2.1
mx1           IN AAAA 2001:db8::1
mx2           IN A   192.0.2.2
v6only        IN AAAA 2001:db8::6
alias         IN CNAME mx1
split         IN TXT "v=spf1 " "ip4:192.0.2.1" " -all"
quoted        IN TXT "say \"hi\"\\ \009tab"
long          IN TXT "` + strings.Repeat("a", 255) + `" "` + strings.Repeat("b", 100) + `"
many          IN TXT "` + strings.Repeat("m", 250) + `1"
many          IN TXT "` + strings.Repeat("m", 250) + `2"
many          IN TXT "` + strings.Repeat("m", 250) + `3"
many          IN TXT "` + strings.Repeat("m", 250) + `4"
many          IN TXT "` + strings.Repeat("m", 250) + `5"
many          IN TXT "` + strings.Repeat("m", 250) + `6"
badname1      IN TXT "v=spf1 a:mx1..example.com -all"
badname2      IN TXT "v=spf1 mx:` + strings.Repeat("a", 64) + `.example.com -all"
badname3      IN TXT "v=spf1 exists:` + nameOfLength(254) + ` -all"
badname4      IN TXT "v=spf1 include:.example.com -all"
$ORIGIN 2.0.192.in-addr.arpa.
@        3600 IN SOA ns.example.com. hostmaster.example.com. 1 7200 900 1209600 300
1             IN PTR mx1.example.com.
`

// newClient starts a dnstest server on zone and returns a Client for it
// that gives up on an unanswered query quickly.
func newClient(t *testing.T, zone string) (*dnstest.Server, *dnsx.Client) {
	t.Helper()
	srv := dnstest.NewServer(t, zone)
	c := dnsx.NewResolver(srv.Addr)
	c.Timeout = 200 * time.Millisecond
	c.Attempts = 1
	return srv, c
}

// RFC 1035 §3.3: the record types a mail receiver asks for.
func TestClientLookups(t *testing.T) {
	srv, c := newClient(t, clientZone)
	ctx := t.Context()

	t.Run("TXT", func(t *testing.T) {
		for _, tt := range []struct{ name, want string }{
			{"example.com", "v=spf1 ip4:192.0.2.0/24 -all"},
			// RFC 7208 §3.3: character-strings are joined without spaces.
			{"split.example.com", "v=spf1 ip4:192.0.2.1 -all"},
			{"quoted.example.com.", "say \"hi\"\\ \ttab"},
			{"long.example.com", strings.Repeat("a", 255) + strings.Repeat("b", 100)},
		} {
			got, err := c.LookupTXT(ctx, tt.name)
			if err != nil || len(got) != 1 || got[0] != tt.want {
				t.Errorf("LookupTXT(%q) = %q, %v; want [%q]", tt.name, got, err, tt.want)
			}
		}
	})
	t.Run("TXT over TCP after truncation", func(t *testing.T) {
		got, err := c.LookupTXT(ctx, "many.example.com")
		if err != nil || len(got) != 6 {
			t.Fatalf("LookupTXT(many) = %d records, %v; want 6", len(got), err)
		}
		// RFC 7766 §5: once over UDP (truncated), once over TCP.
		if n := srv.Queries("many.example.com", dns.TypeTXT); n != 2 {
			t.Errorf("server saw %d queries, want 2", n)
		}
		slices.Sort(got)
		for i, s := range got {
			if want := strings.Repeat("m", 250) + string(rune('1'+i)); s != want {
				t.Errorf("record %d = %q…, want %q…", i, s[245:], want[245:])
			}
		}
	})
	t.Run("MX", func(t *testing.T) {
		got, err := c.LookupMX(ctx, "example.com")
		if err != nil {
			t.Fatal(err)
		}
		want := []net.MX{{Host: "mx1.example.com.", Pref: 10}, {Host: "mx2.example.com.", Pref: 20}}
		if len(got) != len(want) || *got[0] != want[0] || *got[1] != want[1] {
			t.Errorf("LookupMX = %v, want %v", got, want)
		}
	})
	t.Run("IPAddr", func(t *testing.T) {
		for _, tt := range []struct {
			host string
			want []string
		}{
			{"mx1.example.com", []string{"192.0.2.1", "2001:db8::1"}},
			{"mx2.example.com", []string{"192.0.2.2"}},
			{"v6only.example.com", []string{"2001:db8::6"}},
			{"alias.example.com", []string{"192.0.2.1", "2001:db8::1"}},
			{"192.0.2.99", []string{"192.0.2.99"}},
		} {
			addrs, err := c.LookupIPAddr(ctx, tt.host)
			var got []string
			for _, a := range addrs {
				got = append(got, a.IP.String())
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("LookupIPAddr(%q) = %v, %v; want %v", tt.host, got, err, tt.want)
			}
		}
	})
	t.Run("Addr", func(t *testing.T) {
		got, err := c.LookupAddr(ctx, "192.0.2.1")
		if err != nil || !slices.Equal(got, []string{"mx1.example.com."}) {
			t.Errorf("LookupAddr = %v, %v", got, err)
		}
	})
	t.Run("Query keeps CNAME and TTL", func(t *testing.T) {
		a, err := c.Query(ctx, "alias.example.com", dns.TypeA)
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Records) != 2 || a.Records[0].Header().Rrtype != dns.TypeCNAME {
			t.Errorf("records %v, want CNAME then A", a.Records)
		}
		if a.TTL != time.Hour || a.Rcode != dns.RcodeSuccess || a.Server != c.Nameserver {
			t.Errorf("answer %+v, want TTL 1h, NOERROR, server %s", a, c.Nameserver)
		}
	})
}

// The errors a Client returns, one kind of failure at a time. Each is
// checked the way blitiri.com.ar/go/spf checks it: a bare *net.DNSError.
func TestClientErrors(t *testing.T) {
	srv, c := newClient(t, clientZone)
	srv.ServFail("servfail.example.com")
	srv.Refuse("refused.example.com")
	srv.Timeout("timeout.example.com")
	closed := dnsx.NewResolver(deadAddr(t))
	closed.Attempts = 1

	tests := []struct {
		name                           string
		r                              dnsx.Resolver
		host                           string
		notFound, temporary, isTimeout bool
	}{
		// RFC 2308 §2.1 and §2.2: the name or the record does not exist.
		{"nxdomain", c, "nope.example.com", true, false, false},
		{"nodata", c, "mx2.example.com", true, false, false},
		// RFC 1035 §4.1.1: the server could not answer.
		{"servfail", c, "servfail.example.com", false, true, false},
		{"refused", c, "refused.example.com", false, true, false},
		{"timeout", c, "timeout.example.com", false, true, true},
		{"nobody listening", closed, "example.com", false, true, false},
		// RFC 1035 §2.3.4: a name that cannot be asked about is not
		// found, as no server could have it; never temporary.
		{"bad name", c, "a..b", true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.r.LookupTXT(t.Context(), tt.host)
			de, ok := err.(*net.DNSError)
			if !ok {
				t.Fatalf("error %v (%T), want a bare *net.DNSError", err, err)
			}
			if de.IsNotFound != tt.notFound || de.Temporary() != tt.temporary || de.IsTimeout != tt.isTimeout {
				t.Errorf("%v: IsNotFound %v, Temporary %v, IsTimeout %v; want %v, %v, %v",
					err, de.IsNotFound, de.Temporary(), de.IsTimeout, tt.notFound, tt.temporary, tt.isTimeout)
			}
			if dnsx.IsNotFound(err) != tt.notFound || dnsx.IsTemporary(err) != tt.temporary {
				t.Errorf("dnsx.IsNotFound %v, dnsx.IsTemporary %v", dnsx.IsNotFound(err), dnsx.IsTemporary(err))
			}
			// The helpers see through wrapping.
			wrapped := errors.Join(errors.New("context"), err)
			if dnsx.IsNotFound(wrapped) != tt.notFound || dnsx.IsTemporary(wrapped) != tt.temporary {
				t.Errorf("wrapped: dnsx.IsNotFound %v, dnsx.IsTemporary %v", dnsx.IsNotFound(wrapped), dnsx.IsTemporary(wrapped))
			}
			if !strings.Contains(err.Error(), tt.host) {
				t.Errorf("error %q does not name %q", err, tt.host)
			}
		})
	}
}

// The UDP attempts are repeated on timeout, then given up.
func TestClientAttempts(t *testing.T) {
	srv, c := newClient(t, clientZone)
	srv.Timeout("timeout.example.com")
	c.Attempts = 3
	c.Timeout = 50 * time.Millisecond
	_, err := c.LookupTXT(t.Context(), "timeout.example.com")
	if !dnsx.IsTemporary(err) {
		t.Fatalf("err %v, want temporary", err)
	}
	if n := srv.Queries("timeout.example.com", dns.TypeTXT); n != 3 {
		t.Errorf("server saw %d queries, want 3 attempts", n)
	}
}

// A cancelled context ends the query at once, as a temporary failure.
func TestClientCancel(t *testing.T) {
	srv, c := newClient(t, clientZone)
	srv.Timeout("timeout.example.com")
	c.Timeout = time.Minute
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := c.LookupTXT(ctx, "timeout.example.com")
		errc <- err
	}()
	// Cancel once the query has reached the server.
	for i := 0; srv.Queries("timeout.example.com", dns.TypeTXT) == 0; i++ {
		if i > 1e6 {
			t.Fatal("query never reached the server")
		}
		runtime.Gosched()
	}
	cancel()
	select {
	case err := <-errc:
		if !dnsx.IsTemporary(err) || !errors.Is(err, context.Canceled) {
			t.Errorf("err %v, want temporary, wrapping context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cancel did not end the query")
	}
}

// blitiri.com.ar/go/spf turns any error that is not a temporary
// *net.DNSError into permerror; with a Client a DNS timeout is temperror
// (RFC 7208 §2.6.6) and a missing record is none (§2.6.1).
func TestClientWithSPF(t *testing.T) {
	srv, c := newClient(t, clientZone)
	srv.Timeout("timeout.example.com")
	srv.ServFail("servfail.example.com")
	ip := net.ParseIP("192.0.2.1")
	for _, tt := range []struct {
		domain string
		want   spf.Result
	}{
		{"example.com", spf.Pass},
		{"timeout.example.com", spf.TempError},
		{"servfail.example.com", spf.TempError},
		{"nope.example.com", spf.None},
		{"mx2.example.com", spf.None},
		// RFC 7208 §4.3, §5: a mechanism's name that is not a domain name
		// (RFC 1035 §2.3.4) matches nothing; it is never temperror.
		{"badname1.example.com", spf.Fail},
		{"badname2.example.com", spf.Fail},
		{"badname3.example.com", spf.Fail},
		// RFC 7208 §5.2: an include of a name that has no record.
		{"badname4.example.com", spf.PermError},
	} {
		got, err := spf.CheckHostWithSender(ip, "helo.example.org", "someone@"+tt.domain, spf.WithResolver(c))
		if got != tt.want {
			t.Errorf("SPF for %s = %s (%v), want %s", tt.domain, got, err, tt.want)
		}
	}
}

// deadAddr returns a loopback UDP address where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}
