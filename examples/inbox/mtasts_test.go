package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/ownmx/ownmx/certs/acmetest"
	"github.com/ownmx/ownmx/dnsx"
	"github.com/ownmx/ownmx/dnsx/dnstest"
	"github.com/ownmx/ownmx/mtasts"
)

// stsServing matches the log line that says where the policy is served.
var stsServing = regexp.MustCompile(`msg="serving MTA-STS policy" addr=(\S+)`)

// stsRecord matches a logged record to publish; its submatch is quoted.
var stsRecord = regexp.MustCompile(`msg="MTA-STS record to publish" record=("(?:[^"\\]|\\.)*")`)

// stsClient returns an HTTP client that connects to addr whatever the
// URL's host, verifying the server's certificate against roots for the
// URL's host (the SNI is that host), as a sender fetching a policy does.
func stsClient(t *testing.T, addr string, roots *x509.CertPool) *http.Client {
	t.Helper()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// get fetches url with c and returns the response, its body read.
func get(t *testing.T, c *http.Client, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return resp, b
}

// fetchPolicy fetches the policy of domain with c and checks what every
// sender checks: status 200, a policy that parses, served under a
// certificate valid for mta-sts.<domain>.
func fetchPolicy(t *testing.T, c *http.Client, domain string) *mtasts.Policy {
	t.Helper()
	url := "https://mta-sts." + domain + "/.well-known/mta-sts.txt"
	resp, body := get(t, c, url)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, want 200; body %q", url, resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("GET %s: Content-Type %q, want text/plain (RFC 8461 §3.3)", url, ct)
	}
	if err := resp.TLS.PeerCertificates[0].VerifyHostname("mta-sts." + domain); err != nil {
		t.Errorf("GET %s: %v", url, err)
	}
	p, err := mtasts.Parse(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("GET %s: the policy does not parse: %v\n%s", url, err, body)
	}
	return p
}

// loggedRecords returns the records the inbox logged to publish, in zone
// file form.
func loggedRecords(t *testing.T, s *server) []string {
	t.Helper()
	var recs []string
	for _, m := range stsRecord.FindAllStringSubmatch(s.log(), -1) {
		r, err := strconv.Unquote(m[1])
		if err != nil {
			t.Fatalf("logged record %s: %v", m[1], err)
		}
		recs = append(recs, r)
	}
	return recs
}

// TestMTASTSFiles serves the policy of two domains with -tls-cert files
// that cover their mta-sts names: each policy is fetched over HTTPS with
// the domain's SNI and parses with the mode, mx patterns and max_age of
// the flags; mtasts.CheckDomain, given the logged TXT record in DNS, finds
// nothing wrong; any other path or host gets 404, an oversized header
// 431; and SIGTERM stops the HTTPS server with the SMTP server, an idle
// keep-alive connection notwithstanding.
// TestMTASTSUncoveredCertificate starts -mta-sts with a -tls-cert that
// covers one of the two mta-sts names: the other is named in a warning,
// since senders would refuse its HTTPS server and so the policy.
func TestMTASTSUncoveredCertificate(t *testing.T) {
	certFile, keyFile, _ := writeCert(t, "mx.inbox.test", "mta-sts.inbox.test")
	s := start(t, "-domain", "inbox.test,second.test", "-maildir", filepath.Join(t.TempDir(), "mail"),
		"-hostname", "mx.inbox.test", "-tls-cert", certFile, "-tls-key", keyFile,
		"-mta-sts", "testing", "-mta-sts-listen", "127.0.0.1:0")
	if s.waitLog(stsServing, 10*time.Second) == nil {
		t.Fatal("no log line says where the MTA-STS policy is served")
	}
	warned := regexp.MustCompile(`level=WARN msg="the -tls-cert certificate is not valid for the MTA-STS policy's host.*" host=(\S+)`)
	m := s.waitLog(warned, 10*time.Second)
	if m == nil || m[1] != "mta-sts.second.test" {
		t.Fatalf("warning about the uncovered name: %q, want one for mta-sts.second.test", m)
	}
	if strings.Count(s.log(), "is not valid for the MTA-STS policy's host") != 1 {
		t.Errorf("want one warning, for mta-sts.second.test only; log:\n%s", s.log())
	}
}

func TestMTASTSFiles(t *testing.T) {
	dns := dnstest.NewServer(t, testZone())
	certFile, keyFile, roots := writeCert(t, "mx.inbox.test", "mta-sts.inbox.test", "mta-sts.second.test")
	s := start(t, "-domain", "inbox.test,second.test", "-maildir", filepath.Join(t.TempDir(), "mail"), "-dns", dns.Addr,
		"-hostname", "mx.inbox.test", "-tls-cert", certFile, "-tls-key", keyFile,
		"-mta-sts", "enforce", "-mta-sts-listen", "127.0.0.1:0", "-mta-sts-max-age", "336h", "-mta-sts-mx", "mx2.inbox.test,*.backup.test")
	m := s.waitLog(stsServing, 10*time.Second)
	if m == nil {
		t.Fatal("no log line says where the MTA-STS policy is served")
	}
	c := stsClient(t, m[1], roots)

	for _, domain := range []string{"inbox.test", "second.test"} {
		p := fetchPolicy(t, c, domain)
		if p.Mode != mtasts.Enforce || p.MaxAge != 336*time.Hour || !slices.Equal(p.MX, []string{"mx.inbox.test", "mx2.inbox.test", "*.backup.test"}) {
			t.Errorf("policy of %s: mode %s, max_age %v, mx %q; want enforce, 336h, [mx.inbox.test mx2.inbox.test *.backup.test]", domain, p.Mode, p.MaxAge, p.MX)
		}
		if !p.Match("mx.inbox.test") || !p.Match("a.backup.test") || p.Match("mx.elsewhere.test") {
			t.Errorf("policy of %s matches the wrong hosts: %q", domain, p.MX)
		}
	}

	recs := loggedRecords(t, s)
	var txt string
	for _, r := range recs {
		if strings.HasPrefix(r, "_mta-sts.inbox.test. ") {
			txt = r
		}
	}
	if txt == "" {
		t.Fatalf("no _mta-sts.inbox.test record logged; logged %q", recs)
	}
	zone := "inbox.test. 300 IN SOA ns.inbox.test. hostmaster.inbox.test. 1 3600 600 86400 300\n" + txt + "\n" +
		`_smtp._tls.inbox.test. 300 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@inbox.test"` + "\n"
	stsDNS := dnstest.NewServer(t, zone)
	f := &mtasts.Fetcher{Resolver: dnsx.NewResolver(stsDNS.Addr), Client: c, Logger: discardLog()}
	findings, err := mtasts.CheckDomain(context.Background(), f, "inbox.test", []string{"mx.inbox.test"})
	if err != nil {
		t.Fatalf("CheckDomain: %v", err)
	}
	sawPolicy := false
	for _, fd := range findings {
		if fd.Severity != dnsx.OK {
			t.Errorf("CheckDomain: %s %s: %s (fix: %s)", fd.Check, fd.Severity, fd.Message, fd.Fix)
		}
		sawPolicy = sawPolicy || fd.Check == mtasts.CheckMTASTS && strings.Contains(fd.Message, "mode enforce")
	}
	if !sawPolicy {
		t.Errorf("CheckDomain found no policy in enforce mode: %+v", findings)
	}

	for _, url := range []string{
		"https://mta-sts.inbox.test/",
		"https://mta-sts.inbox.test/.well-known/other.txt",
		"https://mta-sts.inbox.test/.well-known/mta-sts.txt/x",
		"https://mx.inbox.test/.well-known/mta-sts.txt", // the certificate covers it, but it is not a policy host
	} {
		if resp, _ := get(t, c, url); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", url, resp.Status)
		}
	}
	req, err := http.NewRequest("GET", "https://mta-sts.inbox.test/.well-known/mta-sts.txt", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Big", strings.Repeat("x", 64<<10))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET with a 64 KiB header: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("GET with a 64 KiB header: %s, want 431", resp.Status)
	}

	// A sender's keep-alive connection stays open, idle, across SIGTERM.
	fetchPolicy(t, c, "inbox.test")
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := s.wait(30 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	if !strings.Contains(s.log(), `msg="MTA-STS policy no longer served"`) {
		t.Errorf("the HTTPS server was not stopped")
	}
	if strings.Contains(s.log(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", s.log())
	}
}

// discardLog is a logger that writes nowhere.
func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestMTASTSACME serves the policy with ACME: pebble on loopback issues
// certificates for mta-sts.inbox.test and mx.inbox.test through the
// TLS-ALPN-01 answers of the policy's HTTPS server (the CA's HTTP-01
// requests go to a port where nothing listens, as on a host whose port 80
// is closed), and a sender that trusts pebble's root fetches the policy
// with that name's SNI.
func TestMTASTSACME(t *testing.T) {
	dns := dnstest.NewServer(t, testZone())
	caDNS := dnstest.NewServer(t, "inbox.test. 3600 IN SOA ns.inbox.test. hostmaster.inbox.test. 1 3600 600 86400 300\n"+
		"mx.inbox.test. 3600 IN A 127.0.0.1\n"+
		"mta-sts.inbox.test. 3600 IN A 127.0.0.1\n")
	closedPort, stsAddr := freeAddr(t), freeAddr(t)
	ca := acmetest.NewServer(t, acmetest.Options{DNS: caDNS.Addr,
		HTTPPort: closedPort.Port, TLSPort: stsAddr.Port})
	t.Setenv("SSL_CERT_FILE", ca.CertFile)
	s := start(t, "-domain", "inbox.test", "-maildir", filepath.Join(t.TempDir(), "mail"), "-dns", dns.Addr,
		"-hostname", "mx.inbox.test", "-acme-dir", filepath.Join(t.TempDir(), "acme"), "-acme-ca", ca.DirectoryURL,
		"-acme-http", "127.0.0.1:0", "-mta-sts", "testing", "-mta-sts-listen", stsAddr.String())
	m := s.waitLog(stsServing, 10*time.Second)
	if m == nil {
		t.Fatal("no log line says where the MTA-STS policy is served")
	}
	c := stsClient(t, m[1], ca.Roots)
	p := fetchPolicy(t, c, "inbox.test")
	if p.Mode != mtasts.Testing || p.MaxAge != mtasts.DefaultMaxAge || !slices.Equal(p.MX, []string{"mx.inbox.test"}) {
		t.Errorf("policy: mode %s, max_age %v, mx %q; want testing, %v, [mx.inbox.test]", p.Mode, p.MaxAge, p.MX, mtasts.DefaultMaxAge)
	}
	if n := ca.Orders(); n != 1 {
		t.Errorf("pebble saw %d orders, want 1: TLS-ALPN-01 answered at the first attempt", n)
	}
	// STARTTLS gets the MX host's certificate the same way.
	sc, err := smtp.DialStartTLS(s.addr, &tls.Config{ServerName: "mx.inbox.test", RootCAs: ca.Roots})
	if err == nil {
		err = sc.Noop() // the handshake is made with the first command
		sc.Close()
	}
	if err != nil {
		t.Fatalf("STARTTLS trusting pebble's root: %v", err)
	}
	if n := ca.Orders(); n != 2 {
		t.Errorf("pebble saw %d orders, want 2", n)
	}
}

// freeAddr returns a loopback address that nothing listened on a moment
// ago, for a server that must be named before it starts.
func freeAddr(t *testing.T) *net.TCPAddr {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr)
}

// TestMTASTSFlags checks the refusals of bad -mta-sts flags: a mode that
// is not the RFC's, no certificate to serve it with, a max_age out of the
// RFC's bounds, a bad mx pattern.
func TestMTASTSFlags(t *testing.T) {
	certFile, keyFile, _ := writeCert(t, "mx.inbox.test", "mta-sts.inbox.test")
	withCert := []string{"-domain", "inbox.test", "-hostname", "mx.inbox.test", "-tls-cert", certFile, "-tls-key", keyFile}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{slices.Concat(withCert, []string{"-mta-sts", "on"}), `-mta-sts "on": want testing or enforce`},
		{slices.Concat(withCert, []string{"-mta-sts", "Enforce"}), `-mta-sts "Enforce"`},
		{[]string{"-domain", "inbox.test", "-mta-sts", "enforce"}, "-mta-sts needs a certificate for mta-sts.DOMAIN"},
		{slices.Concat(withCert, []string{"-mta-sts", "enforce", "-mta-sts-max-age", "0s"}), "max_age 0s is not between 1s"},
		{slices.Concat(withCert, []string{"-mta-sts", "enforce", "-mta-sts-max-age", "8767h"}), "max_age 8767h0m0s is not between 1s"},
		{slices.Concat(withCert, []string{"-mta-sts", "testing", "-mta-sts-mx", "mx..inbox.test"}), `policy mx "mx..inbox.test"`},
		{slices.Concat(withCert, []string{"-mta-sts", "testing", "-mta-sts-mx", "*.*.inbox.test"}), `policy mx "*.*.inbox.test"`},
	} {
		var stderr strings.Builder
		if code := run(tc.args, &stderr); code != 2 {
			t.Errorf("run(%q) = %d, want 2", tc.args, code)
		}
		if !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("run(%q) said %q, want it to hold %q", tc.args, stderr.String(), tc.want)
		}
	}
}
