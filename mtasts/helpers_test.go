package mtasts_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ownmx/ownmx/dnsx"
	"github.com/ownmx/ownmx/dnsx/dnstest"
	"github.com/ownmx/ownmx/mtasts"
)

// testCA is a certificate authority made for one test, which the test's
// HTTPS clients trust instead of the system's roots.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func serial() *big.Int { return big.NewInt(time.Now().UnixNano()) }

// newCA makes a CA valid from an hour ago for an hour.
func newCA(t testing.TB) *testCA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "mtasts test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// leaf returns a server certificate for names signed by ca, valid from
// notBefore to notAfter.
func (ca *testCA) leaf(t testing.TB, notBefore, notAfter time.Time, names ...string) tls.Certificate {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key}
}

// cert returns a server certificate for names, valid now.
func (ca *testCA) serverCert(t testing.TB, names ...string) tls.Certificate {
	return ca.leaf(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), names...)
}

// startHTTPS serves h over HTTPS on 127.0.0.1 with cert, and returns a
// client that trusts ca and connects to that server whatever host a URL
// names, as if every mta-sts.<domain> resolved to it. The client follows
// redirects, as http.Client does by default: the Fetcher must refuse them
// itself.
func startHTTPS(t testing.TB, ca *testCA, cert tls.Certificate, h http.Handler) *http.Client {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// wellKnown is the path of the policy (RFC 8461 §3.3).
const wellKnown = "/.well-known/mta-sts.txt"

// site is the policy host of the test domains: it serves, for each Host,
// the policy set for it, and counts the requests for it.
type site struct {
	mu       sync.Mutex
	policies map[string]string // Host → policy
	hits     map[string]int    // Host → requests
	// gate, when not nil, holds each request until it is closed or the
	// client goes away, after a send on arrived.
	gate    chan struct{}
	arrived chan struct{}
}

func newSite() *site {
	return &site{policies: map[string]string{}, hits: map[string]int{}}
}

func (s *site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.hits[r.Host]++
	policy, ok := s.policies[r.Host]
	gate, arrived := s.gate, s.arrived
	s.mu.Unlock()
	if gate != nil {
		arrived <- struct{}{}
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	if r.URL.Path != wellKnown || !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, policy)
}

// set makes the site serve policy for domain; "" makes it answer 404.
func (s *site) set(domain, policy string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if policy == "" {
		delete(s.policies, "mta-sts."+domain)
	} else {
		s.policies["mta-sts."+domain] = policy
	}
}

// hold makes the site hold every request from now on; arrived receives a
// value as each request arrives, and release lets them all go. The test's
// cleanup releases them too.
func (s *site) hold(t testing.TB) (arrived <-chan struct{}, release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gate := make(chan struct{})
	s.gate, s.arrived = gate, make(chan struct{}, 100)
	release = sync.OnceFunc(func() { close(gate) })
	t.Cleanup(release)
	return s.arrived, release
}

// fetches returns how many requests the site had for domain's policy.
func (s *site) fetches(domain string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits["mta-sts."+domain]
}

// zone returns zone text for the test. domain with records, given as
// lines relative to test. ("_mta-sts.dest IN TXT ...").
func zone(records ...string) string {
	return "$ORIGIN test.\n@ 3600 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60\n" +
		strings.Join(records, "\n") + "\n"
}

// stsRecord returns the zone line of name's "_mta-sts" record with id.
func stsRecord(name, id string) string {
	return fmt.Sprintf(`_mta-sts.%s IN TXT "v=STSv1; id=%s;"`, name, id)
}

// clock is a Fetcher's clock that tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// logBuffer collects a Fetcher's log records.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// world is a test's DNS server, policy site and Fetcher.
type world struct {
	dns   *dnstest.Server
	site  *site
	clock *clock
	logs  *logBuffer
	f     *mtasts.Fetcher
}

// newWorld starts a DNS server with zoneText and a policy site with a
// certificate for mta-sts.<domain> of each of domains, and returns a
// Fetcher that uses them.
func newWorld(t testing.TB, zoneText string, domains ...string) *world {
	t.Helper()
	ca := newCA(t)
	var names []string
	for _, d := range domains {
		names = append(names, "mta-sts."+d)
	}
	w := &world{
		dns:   dnstest.NewServer(t, zoneText),
		site:  newSite(),
		clock: newClock(),
		logs:  &logBuffer{},
	}
	w.f = &mtasts.Fetcher{
		Resolver: dnsx.NewResolver(w.dns.Addr),
		Client:   startHTTPS(t, ca, ca.serverCert(t, names...), w.site),
		Now:      w.clock.Now,
		Logger:   slog.New(slog.NewTextHandler(w.logs, nil)),
	}
	return w
}

// policy calls Policy and fails the test on an error.
func (w *world) policy(t testing.TB, domain string) *mtasts.Policy {
	t.Helper()
	p, err := w.f.Policy(t.Context(), domain)
	if err != nil {
		t.Fatalf("Policy(%q): %v", domain, err)
	}
	return p
}

// wantMX fails the test unless p is a policy with the mx patterns mx.
func wantMX(t testing.TB, p *mtasts.Policy, mx ...string) {
	t.Helper()
	if p == nil {
		t.Fatalf("no policy, want one with mx %q", mx)
	}
	if strings.Join(p.MX, " ") != strings.Join(mx, " ") {
		t.Fatalf("policy mx %q, want %q", p.MX, mx)
	}
}

// wantFetches fails the test unless the site had n requests for domain's
// policy.
func (w *world) wantFetches(t testing.TB, domain string, n int) {
	t.Helper()
	if got := w.site.fetches(domain); got != n {
		t.Fatalf("%d fetches of the policy of %s, want %d", got, domain, n)
	}
}
