package smtpd_test

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// proxyRecorder is a server behind a load balancer: it records the client
// address the Connect handler sees and the messages it receives.
type proxyRecorder struct {
	mu       sync.Mutex
	connects []netip.AddrPort
	msgs     []string
}

func (p *proxyRecorder) connected() []netip.AddrPort {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]netip.AddrPort(nil), p.connects...)
}

func (p *proxyRecorder) messages() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.msgs...)
}

// startProxied serves a Server that trusts PROXY headers from trusted.
func startProxied(t testing.TB, trusted string, edit func(*smtpd.Server)) (string, *proxyRecorder) {
	t.Helper()
	rec := &proxyRecorder{}
	srv := &smtpd.Server{
		Hostname:           "mx.example.com",
		ProxyFrom:          []netip.Prefix{netip.MustParsePrefix(trusted)},
		ProxyHeaderTimeout: 5 * time.Second,
		Connect: smtpd.ConnectFunc(func(_ context.Context, c *smtpd.Conn) error {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			rec.connects = append(rec.connects, c.RemoteAddr)
			return nil
		}),
		Rcpt: smtpd.AcceptDomains("example.com"),
		Data: smtpd.DataFunc(func(_ context.Context, _ *smtpd.Envelope, r io.Reader) error {
			b, err := io.ReadAll(r)
			rec.mu.Lock()
			defer rec.mu.Unlock()
			rec.msgs = append(rec.msgs, string(b))
			return err
		}),
	}
	if edit != nil {
		edit(srv)
	}
	return smtptest.Start(t, srv), rec
}

// proxyV2 returns a PROXY v2 header, built by hand after proxy-protocol.txt
// §2.2: the signature, version 2 and cmd, family and protocol, length,
// then the addresses.
func proxyV2(cmd, famProto byte, addrs []byte) string {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n")
	b = append(b, 0x20|cmd, famProto)
	b = binary.BigEndian.AppendUint16(b, uint16(len(addrs)))
	return string(append(b, addrs...))
}

// v2Addrs returns the address block of a PROXY v2 TCP header.
func v2Addrs(src, dst netip.AddrPort) []byte {
	var b []byte
	b = append(b, src.Addr().AsSlice()...)
	b = append(b, dst.Addr().AsSlice()...)
	b = binary.BigEndian.AppendUint16(b, src.Port())
	return binary.BigEndian.AppendUint16(b, dst.Port())
}

// TestProxyHeaderGivesClientAddress: from a trusted load balancer, every
// kind of valid header (v1 TCP4, TCP6, UNKNOWN; v2 PROXY over TCP4, TCP6;
// v2 LOCAL) gives the Connect handler and the Received header the
// client's address, or the balancer's own for UNKNOWN and LOCAL.
func TestProxyHeaderGivesClientAddress(t *testing.T) {
	addr, rec := startProxied(t, "127.0.0.0/8", nil)
	c4 := netip.MustParseAddrPort("203.0.113.7:40001")
	d4 := netip.MustParseAddrPort("192.0.2.25:25")
	c6 := netip.MustParseAddrPort("[2001:db8::7]:40002")
	d6 := netip.MustParseAddrPort("[2001:db8::25]:25")
	lb := netip.MustParseAddr("127.0.0.1")
	for _, tc := range []struct {
		name, header string
		want         netip.Addr // the balancer's own address when it is lb
		received     string
	}{
		{"v1 TCP4", "PROXY TCP4 203.0.113.7 192.0.2.25 40001 25\r\n", c4.Addr(), "[203.0.113.7]"},
		{"v1 TCP6", "PROXY TCP6 2001:db8::7 2001:db8::25 40002 25\r\n", c6.Addr(), "[IPv6:2001:db8::7]"},
		{"v1 UNKNOWN", "PROXY UNKNOWN\r\n", lb, "[127.0.0.1]"},
		{"v1 UNKNOWN with addresses", "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", lb, "[127.0.0.1]"},
		{"v2 TCP4", proxyV2(1, 0x11, v2Addrs(c4, d4)), c4.Addr(), "[203.0.113.7]"},
		{"v2 TCP6", proxyV2(1, 0x21, v2Addrs(c6, d6)), c6.Addr(), "[IPv6:2001:db8::7]"},
		{"v2 TCP4 with a TLV", proxyV2(1, 0x11, append(v2Addrs(c4, d4), 0x04, 0, 1, 'x')), c4.Addr(), "[203.0.113.7]"},
		{"v2 LOCAL", proxyV2(0, 0x00, nil), lb, "[127.0.0.1]"},
		{"v2 LOCAL with addresses", proxyV2(0, 0x11, v2Addrs(c4, d4)), lb, "[127.0.0.1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(rec.connected())
			c := smtptest.Dial(t, addr)
			if err := c.WriteRaw(tc.header); err != nil {
				t.Fatal(err)
			}
			if r, err := c.ReadReply(); err != nil || r.Code != 220 {
				t.Fatalf("greeting after the header: %v %v, want 220", r, err)
			}
			for _, cmd := range []string{"EHLO client.example", "MAIL FROM:<a@example.org>", "RCPT TO:<me@example.com>", "DATA"} {
				if r := c.Cmd(cmd); r.Code >= 400 {
					t.Fatalf("%s: %v", cmd, r)
				}
			}
			if r := c.Cmd("Subject: hi\r\n\r\nhi\r\n."); r.Code != 250 {
				t.Fatalf("end of data: %v", r)
			}
			c.Cmd("QUIT")
			got := rec.connected()
			if len(got) != before+1 || got[before].Addr() != tc.want {
				t.Errorf("Connect handler saw %v, want %v", got[before:], tc.want)
			}
			msgs := rec.messages()
			received, _, _ := strings.Cut(msgs[len(msgs)-1], "\r\nSubject:")
			if !strings.Contains(received, tc.received) {
				t.Errorf("Received header %q, want it to name %s", received, tc.received)
			}
		})
	}
}

// TestProxyHeaderRequired: a trusted balancer's connection without a valid
// header (none, truncated, oversized, garbage, bad addresses, a bad
// version) is closed without a greeting, and no handler runs.
func TestProxyHeaderRequired(t *testing.T) {
	addr, rec := startProxied(t, "127.0.0.1/32", nil)
	c4 := netip.MustParseAddrPort("203.0.113.7:40001")
	d4 := netip.MustParseAddrPort("192.0.2.25:25")
	full := proxyV2(1, 0x11, v2Addrs(c4, d4))
	for _, tc := range []struct{ name, sent string }{
		{"no header, a command", "EHLO client.example\r\n"},
		{"v1 truncated", "PROXY TCP4 203.0.113.7 192.0.2.25 400"},
		{"v1 without CRLF", "PROXY TCP4 203.0.113.7 192.0.2.25 40001 25\n"},
		{"v1 oversized", "PROXY TCP4 " + strings.Repeat("1", 200) + "\r\n"},
		{"v1 bad address", "PROXY TCP4 999.0.0.1 192.0.2.25 40001 25\r\n"},
		{"v1 IPv6 in TCP4", "PROXY TCP4 2001:db8::7 192.0.2.25 40001 25\r\n"},
		{"v1 bad port", "PROXY TCP4 203.0.113.7 192.0.2.25 70000 25\r\n"},
		{"v1 unknown protocol", "PROXY UDP4 203.0.113.7 192.0.2.25 40001 25\r\n"},
		{"v1 missing field", "PROXY TCP4 203.0.113.7 192.0.2.25 40001\r\n"},
		{"v2 truncated signature", full[:8]},
		{"v2 truncated addresses", full[:20]},
		{"v2 version 1", "\r\n\r\n\x00\r\nQUIT\n\x11\x11\x00\x0c" + full[16:]},
		{"v2 unknown command", "\r\n\r\n\x00\r\nQUIT\n\x22\x11\x00\x0c" + full[16:]},
		{"v2 length short of the addresses", "\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x04" + full[16:20]},
		{"v2 PROXY of UNSPEC (§2.2 lets a receiver refuse it)", proxyV2(1, 0x00, nil)},
		{"garbage", "\x00\x01\x02\xff\r\n"},
		{"empty line", "\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := smtptest.Dial(t, addr)
			if err := c.WriteRaw(tc.sent); err != nil {
				t.Fatal(err)
			}
			c.Conn().(*net.TCPConn).CloseWrite() // a truncated header ends here
			if r, err := c.ReadReply(); err == nil {
				t.Errorf("after %q: reply %v, want the connection closed", tc.sent, r)
			}
		})
	}
	if got := rec.connected(); len(got) != 0 {
		t.Errorf("Connect handler ran for %v, want never", got)
	}
}

// TestProxyHeaderUntrusted: from an address not in ProxyFrom a PROXY
// header is a bad command (500) and its address is never used.
func TestProxyHeaderUntrusted(t *testing.T) {
	addr, rec := startProxied(t, "192.0.2.0/24", nil)
	c := smtptest.Dial(t, addr)
	if r, err := c.ReadReply(); err != nil || r.Code != 220 {
		t.Fatalf("greeting: %v %v", r, err)
	}
	if r := c.Cmd("PROXY TCP4 203.0.113.7 192.0.2.25 40001 25"); r.Code != 500 || !strings.HasPrefix(r.Last(), "500 5.5.1 ") {
		t.Errorf("PROXY from an untrusted address: %v, want 500 5.5.1", r)
	}
	for _, cmd := range []string{"EHLO client.example", "MAIL FROM:<a@example.org>", "RCPT TO:<me@example.com>", "DATA"} {
		if r := c.Cmd(cmd); r.Code >= 400 {
			t.Fatalf("%s: %v", cmd, r)
		}
	}
	if r := c.Cmd("Subject: hi\r\n\r\nhi\r\n."); r.Code != 250 {
		t.Fatalf("end of data: %v", r)
	}
	if got := rec.connected(); len(got) != 1 || got[0].Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("Connect handler saw %v, want 127.0.0.1", got)
	}
	if msgs := rec.messages(); len(msgs) != 1 || !strings.Contains(msgs[0], "[127.0.0.1]") || strings.Contains(msgs[0], "203.0.113.7") {
		t.Errorf("message %q, want the Received header to name [127.0.0.1] only", msgs)
	}
}

// TestProxySilentPeer: a trusted balancer's connection that sends nothing
// delays no other client, and is closed after ProxyHeaderTimeout.
func TestProxySilentPeer(t *testing.T) {
	addr, _ := startProxied(t, "127.0.0.1/32", func(s *smtpd.Server) { s.ProxyHeaderTimeout = 300 * time.Millisecond })
	silent := smtptest.Dial(t, addr)
	other := smtptest.Dial(t, addr)
	if err := other.WriteRaw("PROXY TCP4 203.0.113.7 192.0.2.25 40001 25\r\n"); err != nil {
		t.Fatal(err)
	}
	if r, err := other.ReadReply(); err != nil || r.Code != 220 {
		t.Fatalf("another client while one is silent: %v %v, want 220", r, err)
	}
	if r, err := silent.ReadReply(); err == nil {
		t.Errorf("silent connection: reply %v, want it closed", r)
	}
	if r := other.Cmd("NOOP"); r.Code != 250 {
		t.Errorf("the other client after the silent one was closed: %v", r)
	}
}

// TestProxyPerIPCap: MaxConnectionsPerIP counts the client's address from
// the header, not the balancer's.
func TestProxyPerIPCap(t *testing.T) {
	addr, _ := startProxied(t, "127.0.0.1/32", func(s *smtpd.Server) { s.MaxConnectionsPerIP = 1 })
	greet := func(header string) smtptest.Reply {
		c := smtptest.Dial(t, addr)
		if err := c.WriteRaw(header); err != nil {
			t.Fatal(err)
		}
		r, err := c.ReadReply()
		if err != nil {
			t.Fatalf("after %q: %v", header, err)
		}
		return r
	}
	if r := greet("PROXY TCP4 203.0.113.7 192.0.2.25 40001 25\r\n"); r.Code != 220 {
		t.Fatalf("first client: %v", r)
	}
	if r := greet("PROXY TCP4 203.0.113.8 192.0.2.25 40001 25\r\n"); r.Code != 220 {
		t.Errorf("another client through the same balancer: %v, want 220", r)
	}
	if r := greet("PROXY TCP4 203.0.113.7 192.0.2.25 40002 25\r\n"); r.Code != 421 {
		t.Errorf("second connection of 203.0.113.7: %v, want 421", r)
	}
}
