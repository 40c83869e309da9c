package main

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/ownmx/ownmx/dnsx/dnstest"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// proxyV2Header returns a PROXY protocol v2 header (HAProxy's
// proxy-protocol.txt §2.2) for a TCP connection from src to dst.
func proxyV2Header(src, dst netip.AddrPort) string {
	famProto := byte(0x11) // TCP over IPv4
	if src.Addr().Is6() {
		famProto = 0x21 // TCP over IPv6
	}
	var addrs []byte
	addrs = append(addrs, src.Addr().AsSlice()...)
	addrs = append(addrs, dst.Addr().AsSlice()...)
	addrs = binary.BigEndian.AppendUint16(addrs, src.Port())
	addrs = binary.BigEndian.AppendUint16(addrs, dst.Port())
	b := []byte("\r\n\r\n\x00\r\nQUIT\n")
	b = append(b, 0x21, famProto) // version 2, PROXY
	b = binary.BigEndian.AppendUint16(b, uint16(len(addrs)))
	return string(append(b, addrs...))
}

// proxyV1Header returns a PROXY protocol v1 header for a TCP connection
// from src to dst.
func proxyV1Header(src, dst netip.AddrPort) string {
	proto := "TCP4"
	if src.Addr().Is6() {
		proto = "TCP6"
	}
	return "PROXY " + proto + " " + src.Addr().String() + " " + dst.Addr().String() + " " +
		strconv.Itoa(int(src.Port())) + " " + strconv.Itoa(int(dst.Port())) + "\r\n"
}

// proxyZone is the SPF of spf.example.org: only 192.0.2.10 and
// 2001:db8::10 may send its mail, not 127.0.0.1, the balancer's address;
// DMARC p=none, so a message that fails SPF is still kept, and shows it.
const proxyZone = `
$ORIGIN example.org.
@             300 SOA ns.example.org. hostmaster.example.org. 1 3600 600 86400 300
spf           300 TXT "v=spf1 ip4:192.0.2.10 ip6:2001:db8::10 -all"
_dmarc.spf    300 TXT "v=DMARC1; p=none"
`

// TestProxySPF: behind a load balancer (-proxy-from), SPF checks the
// client's address from the PROXY header, v1 or v2, IPv4 or IPv6, and the
// Received header names it: a header with the address that the sender's
// SPF allows passes, one with any other address fails, and so does a
// header that carries no address (UNKNOWN), which leaves the balancer's.
func TestProxySPF(t *testing.T) {
	dns := dnstest.NewServer(t, proxyZone)
	root := filepath.Join(t.TempDir(), "mail")
	s := start(t, "-domain", "inbox.test", "-maildir", root, "-dns", dns.Addr, "-check-local",
		"-hostname", "mx.inbox.test", "-proxy-from", "127.0.0.1/32")
	dst4, dst6 := netip.MustParseAddrPort("192.0.2.25:25"), netip.MustParseAddrPort("[2001:db8::25]:25")
	allowed4, allowed6 := netip.MustParseAddrPort("192.0.2.10:40001"), netip.MustParseAddrPort("[2001:db8::10]:40001")
	other4, other6 := netip.MustParseAddrPort("192.0.2.99:40001"), netip.MustParseAddrPort("[2001:db8::99]:40001")
	for _, tc := range []struct {
		name, header, spf, received string
	}{
		{"v1 TCP4 allowed", proxyV1Header(allowed4, dst4), "spf=pass", "[192.0.2.10]"},
		{"v1 TCP6 allowed", proxyV1Header(allowed6, dst6), "spf=pass", "[IPv6:2001:db8::10]"},
		{"v2 TCP4 allowed", proxyV2Header(allowed4, dst4), "spf=pass", "[192.0.2.10]"},
		{"v2 TCP6 allowed", proxyV2Header(allowed6, dst6), "spf=pass", "[IPv6:2001:db8::10]"},
		{"v1 TCP4 other", proxyV1Header(other4, dst4), "spf=fail", "[192.0.2.99]"},
		{"v1 TCP6 other", proxyV1Header(other6, dst6), "spf=fail", "[IPv6:2001:db8::99]"},
		{"v2 TCP4 other", proxyV2Header(other4, dst4), "spf=fail", "[192.0.2.99]"},
		{"v2 TCP6 other", proxyV2Header(other6, dst6), "spf=fail", "[IPv6:2001:db8::99]"},
		{"v1 UNKNOWN", "PROXY UNKNOWN\r\n", "spf=fail", "[127.0.0.1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", s.addr)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Write([]byte(tc.header)); err != nil {
				t.Fatal(err)
			}
			c := smtp.NewClient(conn)
			c.CommandTimeout, c.SubmissionTimeout = 10*time.Second, 10*time.Second
			defer c.Close()
			id := strings.ReplaceAll(tc.name, " ", "-")
			msg := message("alice@spf.example.org", id, body)
			if err := send(c, "alice@spf.example.org", "bob@inbox.test", msg); err != nil {
				t.Fatalf("send: %v", err)
			}
			added, err := splitAdded(find(t, filepath.Join(root, "inbox.test", "bob", "new"), id+"@"), msg)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(added, tc.spf+" smtp.mailfrom=alice@spf.example.org") {
				t.Errorf("want %s for the address in the header; added:\n%s", tc.spf, added)
			}
			_, received, _ := strings.Cut(added, "Received:")
			received, _, _ = strings.Cut(received, ";")
			if !strings.Contains(received, tc.received) {
				t.Errorf("Received header does not name %s:\n%s", tc.received, received)
			}
		})
	}
}

// TestProxyHeaderTimeout: a connection from -proxy-from that sends no
// header is closed after -proxy-header-timeout, well before smtpd's
// default of 5 s, and while it waits another client of the balancer is
// served.
func TestProxyHeaderTimeout(t *testing.T) {
	dns := dnstest.NewServer(t, proxyZone)
	s := start(t, "-domain", "inbox.test", "-maildir", filepath.Join(t.TempDir(), "mail"), "-dns", dns.Addr,
		"-proxy-from", "127.0.0.1/32", "-proxy-header-timeout", "1500ms")
	silent, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	opened := time.Now()

	other := smtptest.Dial(t, s.addr)
	if err := other.WriteRaw("PROXY TCP4 192.0.2.10 192.0.2.25 40001 25\r\n"); err != nil {
		t.Fatal(err)
	}
	if r, err := other.ReadReply(); err != nil || r.Code != 220 {
		t.Fatalf("another client while one is silent: %v %v, want 220", r, err)
	}
	if r := other.Cmd("EHLO client.example"); r.Code != 250 {
		t.Fatalf("EHLO of the other client: %v", r)
	}
	// The silent connection is still open: a short read times out.
	silent.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	buf := make([]byte, 512)
	if n, err := silent.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("silent connection before the timeout: read %q, %v; want it open and quiet", buf[:n], err)
	}
	// It is closed, without a reply, after -proxy-header-timeout and
	// before the default would close it.
	silent.SetReadDeadline(opened.Add(4 * time.Second))
	n, err := silent.Read(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("silent connection still open 4 s after it was opened; -proxy-header-timeout 1500ms not applied")
	}
	if err == nil {
		t.Errorf("silent connection got %q, want it closed without a word", buf[:n])
	}
	if waited := time.Since(opened); waited < time.Second {
		t.Errorf("silent connection closed after %v, before -proxy-header-timeout", waited)
	}
	if r := other.Cmd("NOOP"); r.Code != 250 {
		t.Errorf("the other client after the silent one was closed: %v", r)
	}
}

// TestProxyHeaderTimeoutFlag: a negative -proxy-header-timeout is refused.
func TestProxyHeaderTimeoutFlag(t *testing.T) {
	var stderr strings.Builder
	if code := run([]string{"-domain", "inbox.test", "-proxy-header-timeout", "-1s"}, &stderr); code != 2 {
		t.Errorf("run = %d, want 2", code)
	}
	if want := "-proxy-header-timeout -1s: must not be negative"; !strings.Contains(stderr.String(), want) {
		t.Errorf("run said %q, want %q", stderr.String(), want)
	}
}
