package dnsx_test

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ownmx/ownmx/dnsx"
	"github.com/ownmx/ownmx/dnsx/dnstest"
)

// txtResolver is an in-memory Resolver whose every name has one TXT record
// of size bytes, all printable or, when binary is set, all bytes that
// miekg/dns escapes as \DDD, four times their length. It counts its
// lookups, and keeps nothing else.
type txtResolver struct {
	size   int
	binary bool
	asked  atomic.Int64

	fillOnce sync.Once
	fill     string
}

// text is the TXT record of name: size bytes, starting with the name (or
// its start) so that no two records share memory.
func (r *txtResolver) text(name string) string {
	r.fillOnce.Do(func() {
		c := "x"
		if r.binary {
			c = "\x01"
		}
		r.fill = strings.Repeat(c, r.size)
	})
	if len(name) >= r.size {
		return strings.Clone(name[:r.size])
	}
	return name + r.fill[len(name):]
}

func (r *txtResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	r.asked.Add(1)
	return []string{r.text(name)}, nil
}

func (r *txtResolver) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	return nil, &net.DNSError{Err: "no such record", Name: name, IsNotFound: true}
}

func (r *txtResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	return nil, &net.DNSError{Err: "no such record", Name: host, IsNotFound: true}
}

func (r *txtResolver) LookupAddr(_ context.Context, addr string) ([]string, error) {
	return nil, &net.DNSError{Err: "no such record", Name: addr, IsNotFound: true}
}

// wireQuerier answers every TXT question with the record of its txtResolver
// packed into a DNS message and unpacked again, in 255-byte strings, so
// that the records are built the way miekg/dns builds those a Client
// receives.
type wireQuerier struct{ r *txtResolver }

func (q wireQuerier) Query(ctx context.Context, name string, qtype uint16) (dnsx.Answer, error) {
	txts, _ := q.r.LookupTXT(ctx, name)
	var parts []string
	for s := txts[0]; s != ""; {
		n := min(len(s), 255)
		parts = append(parts, escape(s[:n]))
		s = s[n:]
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.Answer = []dns.RR{&dns.TXT{
		Hdr: dns.RR_Header{Name: dns.Fqdn(name), Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 3600},
		Txt: parts,
	}}
	wire, err := m.Pack()
	if err != nil {
		return dnsx.Answer{}, err
	}
	var reply dns.Msg
	if err := reply.Unpack(wire); err != nil {
		return dnsx.Answer{}, err
	}
	return dnsx.Answer{Records: reply.Answer, TTL: time.Hour}, nil
}

// escape writes s in the presentation form miekg/dns keeps TXT strings in.
func escape(s string) string {
	b := make([]byte, 0, 4*len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' || c == '"' || c == '\\' {
			b = append(b, '\\', '0'+c/100, '0'+c/10%10, '0'+c%10)
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}

// heapInUse returns the bytes of live heap objects after a full collection.
func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// 2,000 sender domains with large TXT records leave the cache within its
// memory budget, by its own count and by the heap's: it keeps those under
// MaxAnswerBytes until the budget is spent, dropping the oldest, and none
// of those over it. Without a bound in bytes, 2,000 answers of 60 KB took
// over 120 MB.
func TestCacheMemoryBound(t *testing.T) {
	const names = 2000
	for _, tc := range []struct {
		desc   string
		size   int  // bytes of each TXT record
		binary bool // escaped to four times size
		wire   bool // records unpacked from a DNS message, as a Client gets them
		kept   bool // under DefaultMaxAnswerBytes
	}{
		{"60 KB text, over the answer cap", 60_000, false, false, false},
		{"12 KB text from the wire", 12_000, false, true, true},
		{"3 KB escaped to 12 KB", 3_000, true, false, true},
		{"3 KB escaped to 12 KB from the wire", 3_000, true, true, true},
		{"5 KB escaped to 20 KB, over the answer cap", 5_000, true, false, false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			r := &txtResolver{size: tc.size, binary: tc.binary}
			var q dnsx.Querier = dnsx.FixedTTL(r, time.Hour)
			if tc.wire {
				q = wireQuerier{r}
			}
			cache := dnsx.NewCache(q, 0)
			before := heapInUse()
			for i := range names {
				name := fmt.Sprintf("sender%d.example.com", i)
				txt, err := cache.LookupTXT(t.Context(), name)
				if err != nil || len(txt) != 1 || len(txt[0]) != tc.size || !strings.HasPrefix(txt[0], name) {
					t.Fatalf("LookupTXT(%s) = %d records, %v; want its record", name, len(txt), err)
				}
				if got := cache.Bytes(); got > dnsx.DefaultMaxBytes {
					t.Fatalf("after %d names the cache counts %d bytes, over its budget of %d", i+1, got, dnsx.DefaultMaxBytes)
				}
			}
			growth := heapInUse() - before
			counted := cache.Bytes()
			t.Logf("%d answers kept, %d bytes counted, heap grew by %d", cache.Len(), counted, growth)
			if limit := int64(dnsx.DefaultMaxBytes + dnsx.DefaultMaxBytes/8); growth > limit {
				t.Errorf("heap grew by %d bytes, over the budget and an eighth (%d)", growth, limit)
			}
			if limit := int64(counted + counted/8 + 256<<10); growth > limit {
				t.Errorf("heap grew by %d bytes, more than the %d counted, an eighth and 256 KiB: the count misses memory", growth, counted)
			}
			if !tc.kept {
				if cache.Len() != 0 || counted != 0 {
					t.Errorf("%d answers kept, %d bytes; want none", cache.Len(), counted)
				}
			} else if n := cache.Len(); n == names || counted < dnsx.DefaultMaxBytes*9/10 {
				t.Errorf("%d answers kept, %d bytes; want the oldest dropped and the budget used", n, counted)
			}
			runtime.KeepAlive(cache)
		})
	}
}

// The count of Bytes is what the answers take on the heap, to within an
// eighth either way, for small answers, where the per-answer overhead is
// most of it.
func TestCacheBytesCounted(t *testing.T) {
	for _, wire := range []bool{false, true} {
		t.Run(fmt.Sprintf("wire=%v", wire), func(t *testing.T) {
			r := &txtResolver{size: 11}
			var q dnsx.Querier = dnsx.FixedTTL(r, time.Hour)
			if wire {
				q = wireQuerier{r}
			}
			const names = 4000
			cache := dnsx.NewCache(q, names)
			cache.MaxBytes = -1
			before := heapInUse()
			for i := range names {
				if _, err := cache.LookupTXT(t.Context(), fmt.Sprintf("sender%d.example.com", i)); err != nil {
					t.Fatal(err)
				}
			}
			growth := heapInUse() - before
			counted := int64(cache.Bytes())
			t.Logf("%d answers: %d bytes counted, heap grew by %d", cache.Len(), counted, growth)
			if cache.Len() != names || growth < counted-counted/8 || growth > counted+counted/8 {
				t.Errorf("%d answers: %d bytes counted, heap grew by %d; want within an eighth", cache.Len(), counted, growth)
			}
			runtime.KeepAlive(cache)
		})
	}
}

// countingQuerier counts the questions about each name it passes on.
type countingQuerier struct {
	q     dnsx.Querier
	mu    sync.Mutex
	asked map[string]int
}

func (c *countingQuerier) Query(ctx context.Context, name string, qtype uint16) (dnsx.Answer, error) {
	c.mu.Lock()
	if c.asked == nil {
		c.asked = make(map[string]int)
	}
	c.asked[name]++
	c.mu.Unlock()
	return c.q.Query(ctx, name, qtype)
}

func (c *countingQuerier) count(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.asked[name]
}

// Under pressure on its budget, the cache drops the answers used least
// recently: one looked up between every two new names stays.
func TestCacheKeepsHotAnswer(t *testing.T) {
	q := &countingQuerier{q: dnsx.FixedTTL(&txtResolver{size: 1000}, time.Hour)}
	cache := dnsx.NewCache(q, 0)
	cache.MaxBytes = 10 * 1500 // about ten answers
	ctx := t.Context()
	for i := range 500 {
		for _, name := range []string{"hot.example.com", fmt.Sprintf("cold%d.example.com", i)} {
			if _, err := cache.LookupTXT(ctx, name); err != nil {
				t.Fatal(err)
			}
		}
		if b := cache.Bytes(); b > cache.MaxBytes {
			t.Fatalf("%d bytes counted, over MaxBytes %d", b, cache.MaxBytes)
		}
	}
	if n := q.count("hot.example.com"); n != 1 {
		t.Errorf("hot name asked %d times, want 1", n)
	}
	if n := cache.Len(); n < 5 || n > 10 {
		t.Errorf("%d answers kept, want about ten", n)
	}
	cache.LookupTXT(ctx, "cold0.example.com")
	cache.LookupTXT(ctx, "cold499.example.com")
	if n, m := q.count("cold0.example.com"), q.count("cold499.example.com"); n != 2 || m != 1 {
		t.Errorf("oldest cold name asked %d times, newest %d; want 2 (dropped) and 1 (kept)", n, m)
	}
}

// An answer larger than MaxAnswerBytes, or than MaxBytes, is returned to
// the caller and asked again next time; the limits can be moved.
func TestCacheLargeAnswer(t *testing.T) {
	big := strings.Repeat(`"`+strings.Repeat("b", 250)+`" `, 80) // 20,000 bytes
	srv := dnstest.NewServer(t, `
big.example.com.   300 IN TXT `+big+`
small.example.com. 300 IN TXT "v=spf1 -all"
`)
	// A timeout would be a lost answer, never the point: wait long for one.
	c := dnsx.NewResolver(srv.Addr)
	c.Timeout = 10 * time.Second
	for _, tt := range []struct {
		desc                     string
		maxBytes, maxAnswerBytes int
		bigKept                  bool
	}{
		{"defaults", 0, 0, false},
		{"cap raised", 0, 32 << 10, true},
		{"no cap", 0, -1, true},
		{"no cap, but over MaxBytes", 16 << 10, -1, false},
		{"no bounds", -1, -1, true},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			cache := dnsx.NewCache(c, 0)
			cache.MaxBytes, cache.MaxAnswerBytes = tt.maxBytes, tt.maxAnswerBytes
			before := srv.Queries("big.example.com", dns.TypeTXT)
			for range 3 {
				txt, err := cache.LookupTXT(t.Context(), "big.example.com")
				if err != nil || len(txt) != 1 || len(txt[0]) != 20_000 {
					t.Fatalf("LookupTXT(big) = %d records, %v; want one of 20,000 bytes", len(txt), err)
				}
				if _, err := cache.LookupTXT(t.Context(), "small.example.com"); err != nil {
					t.Fatal(err)
				}
			}
			// Each question about big goes over UDP, is truncated, and
			// again over TCP (RFC 7766 §5).
			asked := (srv.Queries("big.example.com", dns.TypeTXT) - before) / 2
			want := 3
			if tt.bigKept {
				want = 1
			}
			if asked != want {
				t.Errorf("big asked %d times in 3 lookups, want %d", asked, want)
			}
			if tt.bigKept != (cache.Len() == 2) {
				t.Errorf("%d answers kept", cache.Len())
			}
		})
	}
	if n := srv.Queries("small.example.com", dns.TypeTXT); n != 5 {
		t.Errorf("small asked %d times, want once per cache", n)
	}
}
