package postfixtest

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// TestInstancesAtOnce runs three instances at the same time, each with
// its own address, directory and domains; each gets only its own mail. The
// third listens on the second's port at another address, as a sender's MX
// hosts do on port 25.
func TestInstancesAtOnce(t *testing.T) {
	t.Parallel()
	a := Start(t, Options{Domains: []string{"a.example"}})
	b := Start(t, Options{Domains: []string{"b.example"}})
	c := Start(t, Options{Domains: []string{"c.example"}, Port: b.Port})
	ip := netip.MustParseAddr("127.0.0.1")
	for _, in := range []*Instance{a, b, c} {
		if in.IP.Compare(netip.MustParseAddr("127.0.0.2")) < 0 || !in.IP.IsLoopback() {
			t.Errorf("instance at %s, want an address 127.0.0.x with x ≥ 2", in.Addr)
		}
		if in.IP == ip {
			t.Errorf("two instances at %s", in.IP)
		}
		ip = in.IP
	}
	if a.IP == c.IP || a.Dir == b.Dir || b.Dir == c.Dir || a.Dir == c.Dir {
		t.Errorf("instances share an address or a directory: %s %s, %s %s, %s %s", a.Addr, a.Dir, b.Addr, b.Dir, c.Addr, c.Dir)
	}
	if c.Port != b.Port || c.Addr == b.Addr {
		t.Errorf("third instance at %s, want port %d at another address than %s", c.Addr, b.Port, b.Addr)
	}
	for _, in := range []*Instance{a, b, c} {
		domain := in.opts.Domains[0]
		if err := smtptest.Send(in.Addr, "s@example.org", []string{"user@" + domain}, "Subject: "+domain+"\r\n\r\nx\r\n"); err != nil {
			t.Fatalf("%s: %v", in.Addr, err)
		}
		for _, other := range []*Instance{a, b, c} {
			if other != in {
				if err := smtptest.Send(other.Addr, "s@example.org", []string{"user@" + domain}, "Subject: wrong\r\n\r\nx\r\n"); err == nil {
					t.Errorf("%s accepted mail for %s, which only %s hosts", other.Addr, domain, in.Addr)
				}
			}
		}
	}
	for _, in := range []*Instance{a, b, c} {
		domain := in.opts.Domains[0]
		if _, rest := splitTrace(t, in.Wait(t, "user@"+domain, 1)[0]); !bytes.HasPrefix(rest, []byte("Subject: "+domain+"\n")) {
			t.Errorf("%s delivered\n%s", in.Addr, rest)
		}
	}
}

// TestIP starts an instance on an address the test chose.
func TestIP(t *testing.T) {
	t.Parallel()
	ip := netip.MustParseAddr("127.0.0.251")
	in := Start(t, Options{Domains: []string{"example.com"}, IP: ip})
	if in.IP != ip || in.Addr != netip.AddrPortFrom(ip, uint16(in.Port)).String() {
		t.Fatalf("instance at %s (IP %s), want %s", in.Addr, in.IP, ip)
	}
	if err := smtptest.Send(in.Addr, "s@example.org", []string{"u@example.com"}, "Subject: x\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	in.Wait(t, "u@example.com", 1)
}
