package ratelimit_test

import (
	"context"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/ownmx/ownmx/ratelimit"
	"github.com/ownmx/ownmx/smtpd"
)

// sprayAddrs is how many distinct client networks the attack uses.
const sprayAddrs = 1_000_000

// sprayAddr returns the i-th client network of an address-spraying attack
// (i below 2^24): an IPv4 address, or an address in its own IPv6 /64.
func sprayAddr(ipv6 bool, i int) netip.Addr {
	if !ipv6 {
		return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	}
	// 2001:db8:NN:NNNN::1, a new /64 for each i; the low half is fixed,
	// since addresses within one /64 are one network anyway.
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, byte(i >> 16), byte(i >> 8), byte(i), 15: 1})
}

// heapInUse returns the bytes of live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// retainedAfter returns the heap a Limiter with the default MaxKeys
// retains after n distinct client networks have each connected once.
func retainedAfter(b *testing.B, ipv6 bool, n int) uint64 {
	b.Helper()
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	before := heapInUse()
	lim := &ratelimit.Limiter{Now: func() time.Time { return clock }}
	connect := lim.Connect(nil)
	ctx := context.Background()
	c := &smtpd.Conn{}
	for i := range n {
		c.RemoteAddr = netip.AddrPortFrom(sprayAddr(ipv6, i), 25)
		if err := connect.Connect(ctx, c); err != nil {
			b.Fatalf("first connection from %s: %v", c.RemoteAddr, err)
		}
	}
	if conns, _, _ := lim.Len(); conns != min(n, ratelimit.DefaultMaxKeys) {
		b.Fatalf("after %d networks: %d buckets, want %d", n, conns, min(n, ratelimit.DefaultMaxKeys))
	}
	after := heapInUse()
	runtime.KeepAlive(lim)
	if after < before {
		return 0
	}
	return after - before
}

// BenchmarkSprayMemory measures the memory a Limiter retains under an
// address-spraying attack: a million distinct client networks (IPv4
// addresses, or IPv6 /64s) connecting once each, against the baseline of
// DefaultMaxKeys networks, the most it keeps, measured in the same run.
// The metric ratio is the first over the second: near 1 when the memory
// is bounded by MaxKeys, about ten (a million over 100,000) if every
// network were kept. A Go map keeps the room of deleted keys, so before
// the table made its map again after every MaxKeys evictions this was
// 1.26 at a million networks and 1.77 at four million; the benchmark
// fails above 1.1. B/key is the baseline's bytes per bucket. Run it with
//
//	go test -run '^$' -bench SprayMemory -benchtime 1x ./ratelimit
func BenchmarkSprayMemory(b *testing.B) {
	for _, tc := range []struct {
		name string
		ipv6 bool
	}{{"IPv4", false}, {"IPv6-64", true}} {
		b.Run(tc.name, func(b *testing.B) {
			var atMax, atSpray uint64
			for b.Loop() {
				atMax = retainedAfter(b, tc.ipv6, ratelimit.DefaultMaxKeys)
				atSpray = retainedAfter(b, tc.ipv6, sprayAddrs)
			}
			b.ReportMetric(float64(atMax), "B-at-MaxKeys")
			b.ReportMetric(float64(atSpray), "B-at-1M")
			b.ReportMetric(float64(atMax)/ratelimit.DefaultMaxKeys, "B/key")
			ratio := float64(atSpray) / float64(atMax)
			b.ReportMetric(ratio, "ratio")
			if ratio > 1.1 {
				b.Errorf("%d networks retain %d bytes, %.2f times the %d bytes of %d: the tables grow under spraying",
					sprayAddrs, atSpray, ratio, atMax, ratelimit.DefaultMaxKeys)
			}
		})
	}
}
