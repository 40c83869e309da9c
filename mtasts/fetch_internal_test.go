package mtasts

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/cookiejar"
	"testing"
	"time"

	"github.com/ownmx/ownmx/dnsx"
	"github.com/ownmx/ownmx/dnsx/dnstest"
)

// The client of a Fetcher without one requires TLS 1.2 (RFC 8461 §7.2
// asks MTA-STS senders for TLS 1.2 or later), bounds its dial and
// handshake, and keeps no idle connection for policies fetched once a day.
func TestDefaultClient(t *testing.T) {
	c := (&Fetcher{}).client()
	tr, ok := c.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("default transport is a %T", c.Transport)
	}
	if tr.TLSClientConfig == nil || tr.TLSClientConfig.MinVersion < tls.VersionTLS12 ||
		tr.TLSClientConfig.InsecureSkipVerify {
		t.Errorf("TLS configuration %+v, want TLS 1.2 at least, verified", tr.TLSClientConfig)
	}
	if tr.DialContext == nil || tr.TLSHandshakeTimeout <= 0 || !tr.DisableKeepAlives {
		t.Errorf("transport dials with %v, handshake timeout %v, keep-alives disabled %v; want all bounded and disabled",
			tr.DialContext != nil, tr.TLSHandshakeTimeout, tr.DisableKeepAlives)
	}
	if c.CheckRedirect == nil {
		t.Error("the default client follows redirects")
	}
}

// A Client given to the Fetcher is used without redirects or cookies, and
// left as it was for its other users.
func TestClientCopied(t *testing.T) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	given := &http.Client{Jar: jar}
	c := (&Fetcher{Client: given}).client()
	if c.Jar != nil || c.CheckRedirect == nil {
		t.Errorf("client used with jar %v, CheckRedirect set %v; want no jar and redirects refused", c.Jar, c.CheckRedirect != nil)
	}
	if given.Jar != jar || given.CheckRedirect != nil {
		t.Error("the Fetcher changed the Client it was given")
	}
	if err := c.CheckRedirect(nil, nil); err != http.ErrUseLastResponse {
		t.Errorf("CheckRedirect = %v, want http.ErrUseLastResponse", err)
	}
}

// FetchTimeout: zero means DefaultFetchTimeout, negative means none.
func TestFetchTimeoutDefault(t *testing.T) {
	for in, want := range map[int64]int64{0: int64(DefaultFetchTimeout), 5: 5, -1: -1} {
		f := &Fetcher{FetchTimeout: time.Duration(in)}
		if got := f.fetchTimeout(); int64(got) != want {
			t.Errorf("FetchTimeout %d: %d, want %d", in, got, want)
		}
	}
}

// The default client finds the policy host with the Fetcher's Resolver,
// not the machine's: mta-sts.dest.test is only in the test's zone. Its
// first address refuses the connection, and the second is tried.
func TestDefaultClientResolves(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.9:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dns := dnstest.NewServer(t, "mta-sts.dest.test. IN A 127.0.0.10\nmta-sts.dest.test. IN A 127.0.0.9\n")
	f := &Fetcher{Resolver: dnsx.NewResolver(dns.Addr)}
	dial := f.client().Transport.(*http.Transport).DialContext
	_, port, _ := net.SplitHostPort(l.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := dial(ctx, "tcp", net.JoinHostPort("mta-sts.dest.test", port))
	if err != nil {
		t.Fatalf("dialing mta-sts.dest.test: %v", err)
	}
	defer c.Close()
	if got := c.RemoteAddr().String(); got != l.Addr().String() {
		t.Errorf("dialed %s, want %s", got, l.Addr())
	}
	if _, err := dial(ctx, "tcp", net.JoinHostPort("nowhere.dest.test", port)); err == nil {
		t.Error("dialed a name that does not exist")
	}
}
