package auth

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/ownmx/ownmx/smtpd"
)

// noDNS is a resolver that fails the test when asked anything: a trusted
// client's mail is not checked, so no query may be made.
type noDNS struct{ t testing.TB }

func (n noDNS) fail(q string) error {
	n.t.Errorf("DNS query %s made for a trusted client", q)
	return &net.DNSError{Err: "no DNS in this test", Name: q, IsNotFound: true}
}

func (n noDNS) LookupTXT(ctx context.Context, name string) ([]string, error) {
	return nil, n.fail("TXT " + name)
}

func (n noDNS) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	return nil, n.fail("MX " + name)
}

func (n noDNS) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	return nil, n.fail("A/AAAA " + host)
}

func (n noDNS) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	return nil, n.fail("PTR " + addr)
}

// trustedNets are the Trusted networks of the tests: loopback, a
// documentation /24, an IPv6 /32 and an IPv4-mapped /120.
var trustedNets = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("::ffff:198.51.100.0/120"),
	netip.MustParsePrefix("fe80::/10"),
}

// TestTrusts checks which addresses the networks of trustedNets cover:
// each network's first and last address and its neighbours outside, in
// IPv4 and IPv4-mapped IPv6 spelling, with and without a zone.
func TestTrusts(t *testing.T) {
	c := &Checker{Trusted: trustedNets}
	for _, tc := range []struct {
		addr    string
		trusted bool
	}{
		// 127.0.0.0/8
		{"127.0.0.1", true},
		{"127.0.0.0", true},
		{"127.255.255.255", true},
		{"126.255.255.255", false},
		{"128.0.0.0", false},
		{"::ffff:127.0.0.1", true},
		{"::ffff:127.255.255.255", true},
		{"::ffff:128.0.0.0", false},
		{"::127.0.0.1", false}, // IPv4-compatible, deprecated: another address
		// ::1/128
		{"::1", true},
		{"::", false},
		{"::2", false},
		{"::ffff:0.0.0.1", false},
		// 192.0.2.0/24
		{"192.0.2.0", true},
		{"192.0.2.255", true},
		{"192.0.1.255", false},
		{"192.0.3.0", false},
		{"::ffff:192.0.2.0", true},
		{"::ffff:192.0.3.0", false},
		// 2001:db8::/32
		{"2001:db8::", true},
		{"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", true},
		{"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", false},
		{"2001:db9::", false},
		// ::ffff:198.51.100.0/120, an IPv4 network written mapped
		{"198.51.100.0", true},
		{"198.51.100.255", true},
		{"198.51.99.255", false},
		{"198.51.101.0", false},
		{"::ffff:198.51.100.7", true},
		// fe80::/10 with zones, as link-local peers come
		{"fe80::1%eth0", true},
		{"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff%2", true},
		{"fec0::1%eth0", false},
		// Nobody else.
		{"203.0.113.250", false},
		{"0.0.0.0", false},
		{"2001:db8::1%eth0", true},
	} {
		if got := c.trusts(netip.MustParseAddr(tc.addr)); got != tc.trusted {
			t.Errorf("%s: trusted %v, want %v", tc.addr, got, tc.trusted)
		}
	}
	if c.trusts(netip.Addr{}) {
		t.Errorf("the zero address is trusted")
	}
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		addr    string
		want    bool
	}{
		{"no networks", nil, "127.0.0.1", false},
		{"the zero Prefix", []netip.Prefix{{}}, "0.0.0.0", false},
		{"an invalid Prefix", []netip.Prefix{netip.PrefixFrom(netip.MustParseAddr("10.0.0.0"), 33)}, "10.0.0.1", false},
		{"a host address with its bits", []netip.Prefix{netip.MustParsePrefix("10.1.2.3/8")}, "10.200.0.1", true},
		{"IPv4 /0: every IPv4 address", []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, "::ffff:1.2.3.4", true},
		{"IPv4 /0: no IPv6 address", []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, "2001:db8::1", false},
		{"IPv6 /0: every address", []netip.Prefix{netip.MustParsePrefix("::/0")}, "1.2.3.4", true},
		{"IPv4 /32", []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}, "10.0.0.1", true},
		{"IPv4 /32, next", []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}, "10.0.0.2", false},
		{"mapped /96: every IPv4 address", []netip.Prefix{netip.MustParsePrefix("::ffff:0.0.0.0/96")}, "10.0.0.1", true},
	} {
		c := &Checker{Trusted: tc.trusted}
		if got := c.trusts(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("%s: %s in %v: %v, want %v", tc.name, tc.addr, tc.trusted, got, tc.want)
		}
	}
}

// refTrusts is trusts written out: both sides as 16-byte addresses, IPv4
// mapped, and the prefix's first bits compared one by one.
func refTrusts(nets []netip.Prefix, ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	a := ip.As16()
	for _, p := range nets {
		if !p.IsValid() {
			continue
		}
		b, bits := p.Addr().As16(), p.Bits()
		if p.Addr().Is4() {
			bits += 96
		}
		match := true
		for i := 0; i < bits && match; i++ {
			match = a[i/8]>>(7-i%8)&1 == b[i/8]>>(7-i%8)&1
		}
		if match {
			return true
		}
	}
	return false
}

// FuzzTrusts compares trusts with refTrusts for any address and network,
// IPv4 or IPv6, mapped or not, with a zone or not, valid or not.
func FuzzTrusts(f *testing.F) {
	f.Add([]byte{127, 0, 0, 1}, false, []byte{127, 0, 0, 0}, 8)
	f.Add(netip.MustParseAddr("::ffff:192.0.2.255").AsSlice(), false, []byte{192, 0, 2, 0}, 24)
	f.Add([]byte{192, 0, 3, 0}, false, netip.MustParseAddr("::ffff:192.0.2.0").AsSlice(), 120)
	f.Add(netip.MustParseAddr("fe80::1").AsSlice(), true, netip.MustParseAddr("fe80::").AsSlice(), 10)
	f.Add([]byte{10, 0, 0, 1}, false, netip.MustParseAddr("::").AsSlice(), 80)
	f.Add([]byte{10, 0, 0, 1}, false, []byte{10, 0, 0, 0}, 33)
	f.Fuzz(func(t *testing.T, addr []byte, zone bool, prefix []byte, bits int) {
		ip, ok := netip.AddrFromSlice(addr)
		if !ok {
			return
		}
		if zone && ip.Is6() {
			ip = ip.WithZone("eth0")
		}
		pa, ok := netip.AddrFromSlice(prefix)
		if !ok {
			return
		}
		nets := []netip.Prefix{netip.PrefixFrom(pa, bits)}
		c := &Checker{Trusted: nets}
		if got, want := c.trusts(ip), refTrusts(nets, ip); got != want {
			t.Errorf("%s in %s: %v, want %v", ip, nets[0], got, want)
		}
	})
}

// TestTrustedClient sends, from trusted addresses, mail that the checks
// would refuse (p=reject, unauthenticated or signed, with forged
// Authentication-Results): no DNS query is made, no SPF is left at MAIL,
// the message reaches next with "none" and the forged fields removed,
// never refused or quarantined, under every setting, and the log has its
// record.
func TestTrustedClient(t *testing.T) {
	forged := "Authentication-Results: mx.ownmx.test; dmarc=pass header.from=example.com\r\n" +
		"Authentication-Results: upstream.example; spf=pass smtp.mailfrom=a@example.net\r\n"
	kept := "Authentication-Results: upstream.example; spf=pass smtp.mailfrom=a@example.net\r\n"
	plain := testMessage("alice@example.com")
	signed := sign(t, plain, "example.com", "ed")
	for _, ip := range []string{"127.0.0.1", "127.255.255.255", "::1", "::ffff:127.0.0.1", "192.0.2.0", "::ffff:192.0.2.255", "2001:db8::25", "198.51.100.9", "fe80::1%eth0"} {
		for _, setting := range []string{"default", "AnnotateOnly", "QuarantineUnusableFrom"} {
			for _, m := range []struct{ name, msg, want string }{
				{"unauthenticated", forged + plain, kept + plain},
				{"signed", forged + signed, kept + signed},
				{"header only", "From: <alice@example.com>\r\nSubject: x\r\n", "From: <alice@example.com>\r\nSubject: x\r\n"},
				{"no From", "Subject: x\r\n\r\nbody\r\n", "Subject: x\r\n\r\nbody\r\n"},
			} {
				t.Run(ip+"/"+setting+"/"+m.name, func(t *testing.T) {
					var log strings.Builder
					c := &Checker{
						Resolver:               noDNS{t},
						Trusted:                trustedNets,
						Logger:                 slog.New(slog.NewTextHandler(&log, nil)),
						AnnotateOnly:           setting == "AnnotateOnly",
						QuarantineUnusableFrom: setting == "QuarantineUnusableFrom",
					}
					var checked []*Results
					c.Checked = func(res *Results) { checked = append(checked, res) }
					env := envelope(netip.MustParseAddr(ip), "mta.example.test", "alice@example.com")
					got, err := deliver(t, c, env, m.msg)
					if len(checked) != 1 || !checked[0].Trusted {
						t.Errorf("Checked saw %v, want one trusted Results", checked)
					}
					if err != nil || !got.called || got.quarantine {
						t.Fatalf("reply %v, next called %v, Junk %v; want the inbox", err, got.called, got.quarantine)
					}
					if want := "Authentication-Results: mx.ownmx.test; none\r\n" + m.want; got.msg != want {
						t.Errorf("next received\n%q\nwant\n%q", got.msg, want)
					}
					if spf, ok := SPFFrom(env); ok {
						t.Errorf("SPF left at MAIL for a trusted client: %+v", spf)
					}
					res, ok := ResultsFrom(env)
					if !ok || !res.Trusted || res.SPF.Result != None || len(res.DKIM) != 0 ||
						res.DMARC.Result != None || res.Verdict() != Deliver || res.SPF.IP != netip.MustParseAddr(ip).Unmap() {
						t.Errorf("ResultsFrom = %+v, %v; want trusted, none, none, none, deliver", res, ok)
					}
					if !strings.Contains(log.String(), `msg="message not checked: local client" conn=c1 env=tx1 from=alice@example.com verdict=deliver`) {
						t.Errorf("log:\n%s", log.String())
					}
				})
			}
		}
	}
}

// TestTrustedClientBadHeader: a trusted client's message whose header
// cannot be read is refused as anyone's (554 5.6.0), or passed on as it
// came with AnnotateOnly, without ResultsFrom.
func TestTrustedClientBadHeader(t *testing.T) {
	for _, annotate := range []bool{false, true} {
		c := &Checker{Resolver: noDNS{t}, Trusted: trustedNets, Logger: slog.New(slog.DiscardHandler), AnnotateOnly: annotate, MaxHeaderBytes: 1024}
		for _, msg := range []string{
			"no header, just text\r\n",
			"From: a@example.com\r\nX-Big: " + strings.Repeat("x", 2048) + "\r\n\r\nbody\r\n",
		} {
			env := envelope(netip.MustParseAddr("127.0.0.1"), "localhost", "a@example.com")
			got, err := deliver(t, c, env, msg)
			_, found := ResultsFrom(env)
			if annotate {
				if err != nil || got.msg != msg || found {
					t.Errorf("AnnotateOnly: %v, next got %q, ResultsFrom %v; want the message as it came, no Results", err, got.msg, found)
				}
				continue
			}
			if code, enh := replyOf(t, err); code != 554 || enh != "5.6.0" || got.called {
				t.Errorf("%.30q: reply %d %s (%v), next called %v; want 554 5.6.0", msg, code, enh, err, got.called)
			}
		}
	}
}

// TestUntrustedClient: clients just outside the trusted networks, in
// IPv4 and IPv4-mapped spelling, are checked (DNS is asked) and judged:
// unauthenticated mail from a p=reject domain is refused.
func TestUntrustedClient(t *testing.T) {
	c, srv := newChecker(t)
	c.Trusted = trustedNets
	for _, ip := range []string{"126.255.255.255", "128.0.0.0", "::2", "192.0.1.255", "::ffff:192.0.3.0", "2001:db9::", "198.51.101.0", "fec0::1"} {
		t.Run(ip, func(t *testing.T) {
			before := srv.Queries("_dmarc.example.com", 0)
			env := envelope(netip.MustParseAddr(ip), "mta.example.test", "alice@example.com")
			got, err := deliver(t, c, env, testMessage("alice@example.com"))
			if code, _ := replyOf(t, err); code != 550 || got.called {
				t.Errorf("reply %v, next called %v; want 550", err, got.called)
			}
			if srv.Queries("_dmarc.example.com", 0) == before {
				t.Errorf("no DMARC query for an untrusted client")
			}
			if spf, ok := SPFFrom(env); !ok || spf.Result != Fail {
				t.Errorf("SPF at MAIL: %+v, %v; want fail", spf, ok)
			}
			if res, ok := ResultsFrom(env); !ok || res.Trusted || res.Verdict() != Reject {
				t.Errorf("ResultsFrom = %+v, %v; want checked, reject", res, ok)
			}
		})
	}
}

// TestTrustedNoConn: an Envelope without a connection (a handler called
// directly) is never trusted.
func TestTrustedNoConn(t *testing.T) {
	c, _ := newChecker(t)
	c.Trusted = []netip.Prefix{netip.MustParsePrefix("::/0"), netip.MustParsePrefix("0.0.0.0/0")}
	env := &smtpd.Envelope{ID: "tx1", From: "alice@example.com"}
	got, err := deliver(t, c, env, testMessage("alice@example.com"))
	if code, _ := replyOf(t, err); code != 550 || got.called {
		t.Errorf("no connection: %v, next called %v; want checked and refused with 550", err, got.called)
	}
}
