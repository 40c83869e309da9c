package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ownmx/ownmx/ratelimit"
	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeClock is a Now that tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// start serves a Server limited by lim on loopback and returns its address.
func start(t *testing.T, lim *ratelimit.Limiter) string {
	t.Helper()
	srv := &smtpd.Server{
		Hostname: "mx.example.com",
		Connect:  smtpd.ChainConnect(nil, lim.Connect),
		Mail:     smtpd.ChainMail(nil, lim.Mail),
		Rcpt:     smtpd.AcceptDomains("example.com"),
		Data: smtpd.DataFunc(func(_ context.Context, _ *smtpd.Envelope, r io.Reader) error {
			_, err := io.Copy(io.Discard, r)
			return err
		}),
		MaxConnectionsPerIP: -1,
	}
	return smtptest.Start(t, srv)
}

// greeting connects from the address from and returns the first reply.
func greeting(t *testing.T, addr string, from netip.Addr) smtptest.Reply {
	t.Helper()
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(from, 0)), Timeout: 10 * time.Second}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := smtptest.NewClient(t, nc)
	defer nc.Close()
	r, err := c.ReadReply()
	if err != nil {
		t.Fatalf("greeting from %s: %v", from, err)
	}
	return r
}

// TestConnectionLimit: the N+1th connection in a minute from one address
// is told 421 4.7.0, another address is not, and the bucket refills with
// time: one connection more each minute/N.
func TestConnectionLimit(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	const n = 5
	lim := &ratelimit.Limiter{ConnPerMinute: n, Now: clock.Now}
	addr := start(t, lim)
	a, b := netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")
	for i := range n {
		if r := greeting(t, addr, a); r.Code != 220 {
			t.Fatalf("connection %d from %s: %v, want 220", i+1, a, r)
		}
	}
	r := greeting(t, addr, a)
	if r.Code != 421 || !strings.HasPrefix(r.Last(), "421 4.7.0 ") {
		t.Fatalf("connection %d from %s: %v, want 421 4.7.0", n+1, a, r)
	}
	if r := greeting(t, addr, b); r.Code != 220 {
		t.Errorf("first connection from %s: %v, want 220 (another address)", b, r)
	}
	clock.Advance(time.Minute/n - time.Millisecond)
	if r := greeting(t, addr, a); r.Code != 421 {
		t.Errorf("just before the refill: %v, want 421", r)
	}
	clock.Advance(time.Millisecond)
	if r := greeting(t, addr, a); r.Code != 220 {
		t.Errorf("after a minute/%d: %v, want 220 (one token back)", n, r)
	}
	if r := greeting(t, addr, a); r.Code != 421 {
		t.Errorf("second connection after a minute/%d: %v, want 421 (only one token back)", n, r)
	}
	clock.Advance(time.Minute)
	for i := range n {
		if r := greeting(t, addr, a); r.Code != 220 {
			t.Fatalf("connection %d after a full minute: %v, want 220", i+1, r)
		}
	}
}

// send delivers one message from the address ip with the sender from.
func send(addr string, ip netip.Addr, from string) error {
	return smtptest.Send(addr, from, []string{"me@example.com"}, "Subject: hi\r\n\r\nhi\r\n", smtptest.LocalAddr(ip))
}

// wantRefused checks that err is the 451 4.7.1 of a rate limit.
func wantRefused(t *testing.T, what string, err error) {
	t.Helper()
	var e *smtpd.Error
	if !errors.As(err, &e) || e.Code != 451 || e.Enhanced != (smtpd.EnhancedCode{4, 7, 1}) {
		t.Errorf("%s: %v, want 451 4.7.1", what, err)
	}
}

// TestMessageLimit: the N+1th MAIL in a minute from one address gets 451
// 4.7.1, whatever the sender; another address is not affected; time
// refills the bucket.
func TestMessageLimit(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	const n = 4
	lim := &ratelimit.Limiter{MsgPerMinute: n, DomainPerMinute: -1, Now: clock.Now}
	addr := start(t, lim)
	a, b := netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")
	for i := range n {
		if err := send(addr, a, fmt.Sprintf("s%d@sender%d.example", i, i)); err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
	}
	wantRefused(t, "message over the limit", send(addr, a, "x@other.example"))
	wantRefused(t, "bounce over the limit", send(addr, a, ""))
	if err := send(addr, b, "x@other.example"); err != nil {
		t.Errorf("from another address: %v, want accepted", err)
	}
	clock.Advance(time.Minute / n)
	if err := send(addr, a, "x@other.example"); err != nil {
		t.Errorf("after a minute/%d: %v, want accepted", n, err)
	}
	wantRefused(t, "second message after a minute/n", send(addr, a, "x@other.example"))
}

// TestDomainLimit: the N+1th MAIL in a minute naming one sender domain
// gets 451 4.7.1 from any address, in any case; other domains and the null
// sender are not affected.
func TestDomainLimit(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	const n = 3
	lim := &ratelimit.Limiter{DomainPerMinute: n, MsgPerMinute: -1, Now: clock.Now}
	addr := start(t, lim)
	froms := []string{"a@Sender.Example", "b@sender.example", "c@SENDER.EXAMPLE"}
	for i, from := range froms {
		ip := netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i)})
		if err := send(addr, ip, from); err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
	}
	wantRefused(t, "4th message from sender.example, from a new address", send(addr, netip.MustParseAddr("127.0.0.9"), "d@sender.example"))
	if err := send(addr, netip.MustParseAddr("127.0.0.2"), "a@other.example"); err != nil {
		t.Errorf("another domain: %v, want accepted", err)
	}
	if err := send(addr, netip.MustParseAddr("127.0.0.2"), ""); err != nil {
		t.Errorf("null sender: %v, want accepted", err)
	}
	clock.Advance(time.Minute / n)
	if err := send(addr, netip.MustParseAddr("127.0.0.2"), "a@sender.example"); err != nil {
		t.Errorf("after a minute/%d: %v, want accepted", n, err)
	}
}

// TestNegativeMeansNone: negative limits let everything through.
func TestNegativeMeansNone(t *testing.T) {
	lim := &ratelimit.Limiter{ConnPerMinute: -1, MsgPerMinute: -1, DomainPerMinute: -1}
	addr := start(t, lim)
	ip := netip.MustParseAddr("127.0.0.2")
	for i := range ratelimit.DefaultConnPerMinute + 5 {
		if r := greeting(t, addr, ip); r.Code != 220 {
			t.Fatalf("connection %d: %v, want 220", i+1, r)
		}
	}
}

// TestExempt: a client network in Exempt is never limited, and its
// messages do not count against their domain; others still are.
func TestExempt(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	lim := &ratelimit.Limiter{ConnPerMinute: 1, MsgPerMinute: 1, DomainPerMinute: 1, Now: clock.Now,
		Exempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}}
	addr := start(t, lim)
	exempt, other := netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")
	for i := range 3 {
		if r := greeting(t, addr, exempt); r.Code != 220 {
			t.Fatalf("connection %d from the exempt address: %v, want 220", i+1, r)
		}
		if err := send(addr, exempt, "a@sender.example"); err != nil {
			t.Fatalf("message %d from the exempt address: %v", i+1, err)
		}
	}
	if err := send(addr, other, "a@sender.example"); err != nil {
		t.Errorf("first message of sender.example from another address: %v, want accepted", err)
	}
	if r := greeting(t, addr, other); r.Code != 421 {
		t.Errorf("second connection from another address: %v, want 421", r)
	}
}

// TestKey: IPv4 addresses count alone, IPv6 ones by /64, IPv4-mapped IPv6
// as IPv4, zones dropped.
func TestKey(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"192.0.2.1", "192.0.2.1", true},
		{"192.0.2.1", "192.0.2.2", false},
		{"::ffff:192.0.2.1", "192.0.2.1", true},
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", true},
		{"2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"fe80::1%eth0", "fe80::2%eth1", true},
		{"::1", "::2", true},
		{"::1", "0.0.0.1", false},
	} {
		ka, kb := ratelimit.Key(netip.MustParseAddr(tc.a)), ratelimit.Key(netip.MustParseAddr(tc.b))
		if (ka == kb) != tc.same {
			t.Errorf("Key(%s) = %s, Key(%s) = %s; same = %v, want %v", tc.a, ka, tc.b, kb, ka == kb, tc.same)
		}
	}
	if got := ratelimit.Key(netip.MustParseAddr("2001:db8:1:2:3:4:5:6")); got.Bits() != 64 {
		t.Errorf("IPv6 key %s, want a /64", got)
	}
}

// TestIPv6Slash64: over SMTP on ::1, the connection limit counts the /64:
// the loopback /64 is one network. Needs IPv6 loopback.
func TestIPv6Slash64(t *testing.T) {
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatalf("IPv6 loopback is not available: %v", err)
	}
	l.Close()
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	lim := &ratelimit.Limiter{ConnPerMinute: 2, Now: clock.Now}
	c := context.Background()
	conn := func(ip string) error {
		return lim.Connect(nil).Connect(c, &smtpd.Conn{RemoteAddr: netip.AddrPortFrom(netip.MustParseAddr(ip), 25)})
	}
	for _, ip := range []string{"2001:db8::1", "2001:db8::ffff"} {
		if err := conn(ip); err != nil {
			t.Fatalf("%s: %v", ip, err)
		}
	}
	if err := conn("2001:db8::1:2"); err == nil {
		t.Errorf("3rd connection from 2001:db8::/64: accepted, want 421")
	}
	if err := conn("2001:db8:0:1::1"); err != nil {
		t.Errorf("another /64: %v, want accepted", err)
	}
}

// TestSenderDomain: the domain the limit counts.
func TestSenderDomain(t *testing.T) {
	for from, want := range map[string]string{
		"":                  "",
		"postmaster":        "",
		"a@Example.COM":     "example.com",
		"a@example.com.":    "example.com",
		`"a@b"@example.org`: "example.org",
		"a@[192.0.2.1]":     "[192.0.2.1]",
	} {
		if got := ratelimit.SenderDomain(from); got != want {
			t.Errorf("SenderDomain(%q) = %q, want %q", from, got, want)
		}
	}
}

// TestBoundedUnderSpraying: a million distinct client networks, each
// connecting once (and every tenth sending from its own domain), keep every
// table at MaxKeys, and the networks seen last are still limited.
func TestBoundedUnderSpraying(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	const maxKeys = 1000
	lim := &ratelimit.Limiter{ConnPerMinute: 1, MsgPerMinute: 1, DomainPerMinute: 1, MaxKeys: maxKeys, Now: clock.Now}
	connect, mail := lim.Connect(nil), lim.Mail(nil)
	ctx := context.Background()
	for i := range 1_000_000 {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		c := &smtpd.Conn{RemoteAddr: netip.AddrPortFrom(ip, 25)}
		if err := connect.Connect(ctx, c); err != nil {
			t.Fatalf("first connection from %s: %v", ip, err)
		}
		if i%10 != 0 {
			continue
		}
		if err := mail.Mail(ctx, &smtpd.Envelope{Conn: c, From: fmt.Sprintf("a@d%d.example", i)}); err != nil {
			t.Fatalf("first message from %s: %v", ip, err)
		}
		if i%1000 != 0 {
			continue
		}
		if conns, msgs, domains := lim.Len(); conns > maxKeys || msgs > maxKeys || domains > maxKeys {
			t.Fatalf("after %d networks: %d, %d, %d buckets, want at most %d", i+1, conns, msgs, domains, maxKeys)
		}
	}
	last := &smtpd.Conn{RemoteAddr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0x0f, 0x42, 0x3f}), 25)} // 999,999
	if err := connect.Connect(ctx, last); err == nil {
		t.Errorf("second connection from the last network: accepted, want 421 (its bucket forgotten)")
	}
}
