package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/ownmx/ownmx/certs/acmetest"
	"github.com/ownmx/ownmx/dnsx/dnstest"
)

const acmeHost = "mx.example.test"

// acmeZone points acmeHost at 127.0.0.1.
const acmeZone = "example.test. 3600 IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 300\n" +
	acmeHost + ". 3600 IN A 127.0.0.1\n"

// pebble is acmetest's server with the listener its HTTP-01 requests
// reach.
type pebble struct {
	*acmetest.Server
	challengeLn net.Listener
}

// startPebble starts pebble issuing certificates valid for validity
// (0: pebble's default), with names resolved by a dnstest server that
// points acmeHost at 127.0.0.1.
func startPebble(t *testing.T, validity time.Duration) *pebble {
	t.Helper()
	dns := dnstest.NewServer(t, acmeZone)
	challengeLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { challengeLn.Close() })
	srv := acmetest.NewServer(t, acmetest.Options{DNS: dns.Addr, HTTPPort: challengeLn.Addr().(*net.TCPAddr).Port, Validity: validity})
	return &pebble{Server: srv, challengeLn: challengeLn}
}

// serveChallenges answers pebble's HTTP-01 requests with a's handler.
func (p *pebble) serveChallenges(t *testing.T, a *ACME) {
	t.Helper()
	srv := &http.Server{Handler: a.HTTPHandler()}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(p.challengeLn) }()
	t.Cleanup(func() { srv.Close(); <-done })
}

// notifyingCache tells when a certificate (not an account key or token) is
// stored.
type notifyingCache struct {
	autocert.Cache
	stored chan string
}

func (c *notifyingCache) Put(ctx context.Context, key string, data []byte) error {
	err := c.Cache.Put(ctx, key, data)
	if key == acmeHost || key == acmeHost+"+rsa" {
		c.stored <- key
	}
	return err
}

// verifiedSerial dials addr as a client that trusts only roots, asking for
// serverName, and returns the serial number of the verified certificate.
func verifiedSerial(t *testing.T, addr, serverName string, roots *x509.CertPool) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: serverName, RootCAs: roots,
		// Without a serverName no SNI is sent, and the certificate is
		// verified for acmeHost here.
		InsecureSkipVerify: serverName == "",
		VerifyConnection: func(cs tls.ConnectionState) error {
			if serverName != "" {
				return nil
			}
			opts := x509.VerifyOptions{DNSName: acmeHost, Roots: roots, Intermediates: x509.NewCertPool()}
			for _, c := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(opts)
			return err
		}})
	if err != nil {
		t.Fatalf("TLS client trusting pebble's root: %v", err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

func newTestACME(t *testing.T, p *pebble, dir string) (*ACME, chan string) {
	t.Helper()
	a, err := NewACME(ACMEOptions{Hosts: []string{acmeHost}, Email: "postmaster@example.test", Dir: dir,
		DirectoryURL: p.DirectoryURL, HTTPClient: p.Client})
	if err != nil {
		t.Fatal(err)
	}
	stored := make(chan string, 16)
	a.Manager.Cache = &notifyingCache{Cache: a.Manager.Cache, stored: stored}
	return a, stored
}

// TestACMEIssuesAndReusesAfterRestart gets a certificate from pebble over
// HTTP-01, then starts a new ACME on the same directory, as after a
// restart: it serves the same certificate without a new order.
func TestACMEIssuesAndReusesAfterRestart(t *testing.T) {
	p := startPebble(t, 0)
	dir := t.TempDir()
	a, _ := newTestACME(t, p, dir)
	p.serveChallenges(t, a)
	addr := echoServer(t, a.GetCertificate)

	first := verifiedSerial(t, addr, acmeHost, p.Roots)
	// autocert tries TLS-ALPN-01 first, in an order of its own, which
	// fails here as nothing answers on pebble's TLS port.
	issued := p.Orders()
	if issued == 0 {
		t.Fatal("no order seen by pebble")
	}
	// A client without SNI, as many SMTP clients are, gets the same one.
	if got := verifiedSerial(t, addr, "", p.Roots); got != first {
		t.Fatalf("a client without SNI got serial %s, want %s", got, first)
	}

	restarted, _ := newTestACME(t, p, dir)
	addr2 := echoServer(t, restarted.GetCertificate)
	if got := verifiedSerial(t, addr2, acmeHost, p.Roots); got != first {
		t.Fatalf("after a restart the serial is %s, want the stored %s", got, first)
	}
	if n := p.Orders(); n != issued {
		t.Fatalf("orders after the restart: %d, want still %d", n, issued)
	}
}

// TestACMEAnswersTLSALPN gets a certificate over TLS-ALPN-01 alone, as a
// host whose port 80 is closed: the CA's HTTP-01 requests find nothing
// listening, and its TLS handshakes reach the server that clients use,
// configured by TLSConfig. The first order succeeds.
func TestACMEAnswersTLSALPN(t *testing.T) {
	dns := dnstest.NewServer(t, acmeZone)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	srv := acmetest.NewServer(t, acmetest.Options{DNS: dns.Addr,
		HTTPPort: closed.Addr().(*net.TCPAddr).Port, TLSPort: ln.Addr().(*net.TCPAddr).Port})
	a, err := NewACME(ACMEOptions{Hosts: []string{acmeHost}, Dir: t.TempDir(), DirectoryURL: srv.DirectoryURL, HTTPClient: srv.Client})
	if err != nil {
		t.Fatal(err)
	}
	a.HTTPHandler() // HTTP-01 may be tried too, as in the inbox
	config := a.TLSConfig("h2", "http/1.1")
	if want := []string{"h2", "http/1.1", acme.ALPNProto}; !slices.Equal(config.NextProtos, want) {
		t.Errorf("NextProtos %q, want %q", config.NextProtos, want)
	}
	addr := serveEcho(t, tls.NewListener(ln, config))

	verifiedSerial(t, addr, acmeHost, srv.Roots)
	if n := srv.Orders(); n != 1 {
		t.Errorf("pebble saw %d orders, want 1: TLS-ALPN-01 answered at the first attempt", n)
	}
	// A client that offers other protocols still gets the certificate.
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: acmeHost, RootCAs: srv.Roots, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatalf("an HTTPS client: %v", err)
	}
	if p := c.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
		t.Errorf("negotiated %q, want http/1.1", p)
	}
	c.Close()
}

// TestACMERenews has pebble issue certificates valid for 9 seconds: the
// manager renews the certificate a third of its life before it expires,
// and the next client gets the new one.
func TestACMERenews(t *testing.T) {
	p := startPebble(t, 9*time.Second)
	a, stored := newTestACME(t, p, t.TempDir())
	p.serveChallenges(t, a)
	addr := echoServer(t, a.GetCertificate)

	first := verifiedSerial(t, addr, acmeHost, p.Roots)
	issued := p.Orders()
	<-stored // the first certificate
	select {
	case <-stored:
	case <-time.After(30 * time.Second):
		t.Fatal("no renewed certificate stored within 30 s of a 9 s certificate")
	}
	if got := verifiedSerial(t, addr, acmeHost, p.Roots); got == first {
		t.Fatalf("after the renewal the serial is still %s", got)
	}
	if n := p.Orders(); n <= issued {
		t.Fatalf("orders: %d after the renewal, %d before", n, issued)
	}
}

// TestACMEWaitsAfterFailure has pebble's HTTP-01 requests answered 404,
// as when port 80 does not reach the host yet: the handshake fails, the
// ones that follow within RetryAfter fail at once without a new order and
// say when the next attempt is, and the wait doubles with each failure.
// (autocert itself refuses a new attempt for a name within a minute of a
// failure, in real time: the attempt after the wait fails on that here,
// which is enough to see the wait double.)
func TestACMEWaitsAfterFailure(t *testing.T) {
	p := startPebble(t, 0)
	var mu sync.Mutex
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	a, err := NewACME(ACMEOptions{Hosts: []string{acmeHost}, Dir: t.TempDir(),
		DirectoryURL: p.DirectoryURL, HTTPClient: p.Client, RetryAfter: time.Minute, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	a.HTTPHandler() // as the inbox does before the first order: HTTP-01 is tried too
	challenges := &http.Server{Handler: http.NotFoundHandler()}
	done := make(chan struct{})
	go func() { defer close(done); challenges.Serve(p.challengeLn) }()
	t.Cleanup(func() { challenges.Close(); <-done })
	addr := echoServer(t, a.GetCertificate)

	if err := handshake(addr, p.Roots); err == nil {
		t.Fatal("a certificate was served while HTTP-01 was answered 404")
	}
	orders := p.Orders()
	if orders == 0 {
		t.Fatal("no order seen by pebble")
	}
	for range 3 {
		if err := handshake(addr, p.Roots); err == nil {
			t.Fatal("a certificate was served while HTTP-01 was answered 404")
		}
	}
	if n := p.Orders(); n != orders {
		t.Fatalf("handshakes within a minute of the failure made %d new orders, want none", n-orders)
	}
	wantWait := func(next string) {
		t.Helper()
		c, err := a.GetCertificate(&tls.ClientHelloInfo{ServerName: acmeHost})
		if err == nil || !strings.Contains(err.Error(), "next attempt after "+next) {
			t.Fatalf("GetCertificate within the wait: %v, %v; want an error that says the next attempt is after %s", c, err, next)
		}
	}
	wantWait("2026-12-01T12:01:00Z")
	advance(59 * time.Second)
	wantWait("2026-12-01T12:01:00Z")

	advance(time.Second) // 12:01: tried again, fails again, waits two minutes
	if err := handshake(addr, p.Roots); err == nil {
		t.Fatal("a certificate was served while HTTP-01 was answered 404")
	}
	wantWait("2026-12-01T12:03:00Z")
}

// handshake dials addr as a client that trusts only roots, asking for
// acmeHost.
func handshake(addr string, roots *x509.CertPool) error {
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: acmeHost, RootCAs: roots})
	if err != nil {
		return err
	}
	return c.Close()
}

func TestNewACMEChecksOptions(t *testing.T) {
	for _, opts := range []ACMEOptions{
		{Dir: "x"},
		{Hosts: []string{acmeHost}},
		{Hosts: []string{""}, Dir: "x"},
		{Hosts: []string{"127.0.0.1"}, Dir: "x"},
	} {
		if _, err := NewACME(opts); err == nil {
			t.Errorf("NewACME(%+v) accepted", opts)
		}
	}
}
