package dnsx_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ownmx/ownmx/dnsx"
	"github.com/ownmx/ownmx/dnsx/dnstest"
)

// The SOA's own TTL (600) is above its MINIMUM (60): negative answers are
// kept for the smaller, 60 seconds (RFC 2308 §5).
const cacheZone = `
$ORIGIN example.com.
@     600 IN SOA ns.example.com. hostmaster.example.com. 1 7200 900 1209600 60
@     300 IN MX  10 mx
@     300 IN TXT "v=spf1 -all"
mx    300 IN A   192.0.2.25
mx     30 IN AAAA 2001:db8::25
alias  10 IN CNAME mx
`

// clock is a settable time for Cache.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newCache(t *testing.T, zone string) (*dnstest.Server, *dnsx.Cache, *clock) {
	t.Helper()
	srv, c := newClient(t, zone)
	clk := newClock()
	cache := dnsx.NewCache(c, 0)
	cache.Now = clk.Now
	return srv, cache, clk
}

// A server receiving many messages from one domain asks about it once.
func TestCacheSavesQueries(t *testing.T) {
	srv, cache, _ := newCache(t, cacheZone)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			for range 20 {
				if txt, err := cache.LookupTXT(t.Context(), "example.com"); err != nil || len(txt) != 1 {
					t.Errorf("LookupTXT = %v, %v", txt, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := srv.Queries("example.com", dns.TypeTXT); n != 1 {
		t.Errorf("1000 lookups sent %d queries, want 1", n)
	}
}

// RFC 1035 §3.2.1: an answer is kept for its TTL, and no longer.
func TestCacheTTL(t *testing.T) {
	tests := []struct {
		name  string
		qname string
		qtype uint16
		ttl   time.Duration
	}{
		{"positive", "mx.example.com", dns.TypeA, 300 * time.Second},
		{"smallest TTL of a CNAME chain", "alias.example.com", dns.TypeA, 10 * time.Second},
		// RFC 2308 §5: min(SOA TTL, SOA MINIMUM).
		{"nxdomain", "nope.example.com", dns.TypeA, 60 * time.Second},
		{"nodata", "mx.example.com", dns.TypeTXT, 60 * time.Second},
		{"nodata shortened by a CNAME", "alias.example.com", dns.TypeTXT, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, cache, clk := newCache(t, cacheZone)
			ask := func() dnsx.Answer {
				t.Helper()
				a, err := cache.Query(t.Context(), tt.qname, tt.qtype)
				if err != nil {
					t.Fatal(err)
				}
				return a
			}
			if a := ask(); a.TTL != tt.ttl {
				t.Errorf("first answer TTL %v, want %v", a.TTL, tt.ttl)
			}
			clk.Advance(tt.ttl - time.Second)
			if a := ask(); a.TTL != time.Second {
				t.Errorf("cached answer TTL %v, want the 1s left", a.TTL)
			}
			if n := srv.Queries(tt.qname, tt.qtype); n != 1 {
				t.Errorf("within the TTL: %d queries, want 1", n)
			}
			clk.Advance(time.Second)
			ask()
			if n := srv.Queries(tt.qname, tt.qtype); n != 2 {
				t.Errorf("after the TTL: %d queries, want 2", n)
			}
		})
	}
}

// Negative answers are kept, and are still not-found errors when they come
// from the cache.
func TestCacheNegative(t *testing.T) {
	srv, cache, _ := newCache(t, cacheZone)
	for range 3 {
		if _, err := cache.LookupTXT(t.Context(), "nope.example.com"); !dnsx.IsNotFound(err) {
			t.Fatalf("err %v, want not found", err)
		}
		if _, err := cache.LookupIPAddr(t.Context(), "nope.example.com"); !dnsx.IsNotFound(err) {
			t.Fatalf("err %v, want not found", err)
		}
	}
	if n := srv.Queries("nope.example.com", 0); n != 3 {
		t.Errorf("%d queries, want 3 (TXT, A, AAAA once each)", n)
	}
}

// RFC 2308 §5: a negative answer without an SOA record is not kept.
func TestCacheNegativeWithoutSOA(t *testing.T) {
	srv, cache, _ := newCache(t, "mx.example.com. 300 IN A 192.0.2.25\n")
	for range 3 {
		if _, err := cache.LookupTXT(t.Context(), "mx.example.com"); !dnsx.IsNotFound(err) {
			t.Fatalf("err %v, want not found", err)
		}
	}
	if n := srv.Queries("mx.example.com", dns.TypeTXT); n != 3 {
		t.Errorf("%d queries, want 3", n)
	}
}

// Temporary failures are not kept: once the server recovers, the next
// lookup gets the answer.
func TestCacheTemporaryNotKept(t *testing.T) {
	for _, fail := range []string{"ServFail", "Refuse", "Timeout"} {
		t.Run(fail, func(t *testing.T) {
			srv, cache, _ := newCache(t, cacheZone)
			map[string]func(string){
				"ServFail": srv.ServFail, "Refuse": srv.Refuse, "Timeout": srv.Timeout,
			}[fail]("example.com")
			if _, err := cache.LookupMX(t.Context(), "example.com"); !dnsx.IsTemporary(err) {
				t.Fatalf("while failing: err %v, want temporary", err)
			}
			srv.Restore("example.com")
			if mx, err := cache.LookupMX(t.Context(), "example.com"); err != nil || len(mx) != 1 {
				t.Fatalf("after recovery: %v, %v", mx, err)
			}
			if n := srv.Queries("example.com", dns.TypeMX); n != 2 {
				t.Errorf("%d queries, want 2", n)
			}
		})
	}
}

// MaxTTL caps the TTL the server gives.
func TestCacheMaxTTL(t *testing.T) {
	srv, cache, clk := newCache(t, cacheZone)
	cache.MaxTTL = 100 * time.Second
	for range 2 {
		cache.LookupMX(t.Context(), "example.com")
		clk.Advance(100 * time.Second)
	}
	if n := srv.Queries("example.com", dns.TypeMX); n != 2 {
		t.Errorf("%d queries, want 2", n)
	}
}

// The cache holds at most its size, dropping the least recently used.
func TestCacheSize(t *testing.T) {
	srv, c := newClient(t, cacheZone)
	cache := dnsx.NewCache(c, 2)
	ctx := t.Context()
	cache.Query(ctx, "example.com", dns.TypeMX)   // [MX]
	cache.Query(ctx, "example.com", dns.TypeTXT)  // [TXT MX]
	cache.Query(ctx, "example.com", dns.TypeMX)   // [MX TXT]
	cache.Query(ctx, "mx.example.com", dns.TypeA) // [A MX], TXT dropped
	if n := cache.Len(); n != 2 {
		t.Errorf("Len = %d, want 2", n)
	}
	cache.Query(ctx, "example.com", dns.TypeMX)  // kept
	cache.Query(ctx, "example.com", dns.TypeTXT) // asked again
	if mx, txt := srv.Queries("example.com", dns.TypeMX), srv.Queries("example.com", dns.TypeTXT); mx != 1 || txt != 2 {
		t.Errorf("queries: MX %d, TXT %d; want 1, 2", mx, txt)
	}
}

// FixedTTL lets a Cache keep the answers of a resolver without TTLs.
func TestCacheFixedTTL(t *testing.T) {
	r := &countingResolver{}
	clk := newClock()
	cache := dnsx.NewCache(dnsx.FixedTTL(r, time.Minute), 0)
	cache.Now = clk.Now
	ctx := t.Context()
	for range 3 {
		txt, err := cache.LookupTXT(ctx, "example.com")
		if err != nil || len(txt) != 1 || txt[0] != `v=spf1 "quoted" -all` {
			t.Fatalf("LookupTXT = %q, %v", txt, err)
		}
		if _, err := cache.LookupTXT(ctx, "nope.example.com"); !dnsx.IsNotFound(err) {
			t.Fatalf("err %v, want not found", err)
		}
		mx, err := cache.LookupMX(ctx, "example.com")
		if err != nil || len(mx) != 1 || mx[0].Host != "mx.example.com." {
			t.Fatalf("LookupMX = %v, %v", mx, err)
		}
		names, err := cache.LookupAddr(ctx, "2001:db8::25")
		if err != nil || len(names) != 1 || names[0] != "mx.example.com." {
			t.Fatalf("LookupAddr = %v, %v", names, err)
		}
		addrs, err := cache.LookupIPAddr(ctx, "mx.example.com")
		if err != nil || len(addrs) != 2 {
			t.Fatalf("LookupIPAddr = %v, %v", addrs, err)
		}
	}
	// TXT twice (two names), MX, PTR, and IP addresses for A and AAAA.
	if n := r.count(); n != 6 {
		t.Errorf("resolver asked %d times, want 6", n)
	}
	clk.Advance(time.Minute)
	cache.LookupTXT(ctx, "example.com")
	if n := r.count(); n != 7 {
		t.Errorf("after the TTL: resolver asked %d times, want 7", n)
	}
}

// countingResolver is an in-memory Resolver that counts the calls made.
type countingResolver struct {
	mu sync.Mutex
	n  int
}

func (r *countingResolver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

func (r *countingResolver) called() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
}

func (r *countingResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	r.called()
	if name == "example.com" || name == "example.com." {
		return []string{`v=spf1 "quoted" -all`}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (r *countingResolver) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	r.called()
	return []*net.MX{{Host: "mx.example.com.", Pref: 10}}, nil
}

func (r *countingResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	r.called()
	return []net.IPAddr{{IP: net.ParseIP("192.0.2.25")}, {IP: net.ParseIP("2001:db8::25")}}, nil
}

func (r *countingResolver) LookupAddr(_ context.Context, addr string) ([]string, error) {
	r.called()
	if addr != "2001:db8::25" {
		return nil, &net.DNSError{Err: "no such host", Name: addr, IsNotFound: true}
	}
	return []string{"mx.example.com."}, nil
}

// BenchmarkCacheHit measures a TXT lookup answered from a warm cache, the
// common case for a server receiving many messages from one domain.
func BenchmarkCacheHit(b *testing.B) {
	srv := dnstest.NewServer(b, cacheZone)
	cache := dnsx.NewCache(dnsx.NewResolver(srv.Addr), 0)
	ctx := b.Context()
	if _, err := cache.LookupTXT(ctx, "example.com"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cache.LookupTXT(ctx, "example.com"); err != nil {
			b.Fatal(err)
		}
	}
	if n := srv.Queries("example.com", dns.TypeTXT); n != 1 {
		b.Errorf("%d queries, want 1", n)
	}
}
