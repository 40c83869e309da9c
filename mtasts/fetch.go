package mtasts

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/ownmx/ownmx/dnsx"
)

// policyURL returns the address of domain's policy (RFC 8461 §3.3).
func policyURL(domain string) string {
	return "https://mta-sts." + domain + "/.well-known/mta-sts.txt"
}

// fetch gets and parses the policy of domain over HTTPS (RFC 8461 §3.3),
// and gives it id, its record's id.
func (f *Fetcher) fetch(ctx context.Context, domain, id string) (*Policy, error) {
	if timeout := f.fetchTimeout(); timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	url := policyURL(domain)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("mtasts: policy of %s: %w", domain, err)
	}
	resp, err := f.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("mtasts: policy of %s: %w", domain, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// RFC 8461 §3.3: only a 200 answer carries a policy, and
		// redirects MUST NOT be followed.
		if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 && loc != "" {
			return nil, fmt.Errorf("mtasts: GET %s: %s, a redirect to %q, which RFC 8461 §3.3 forbids following",
				url, resp.Status, loc)
		}
		return nil, fmt.Errorf("mtasts: GET %s: %s, not 200 OK", url, resp.Status)
	}
	// RFC 8461 §3.3: the media type must be text/plain, lest a site that
	// lets users publish files at paths of their choice (HTML, images)
	// serve a policy no one meant. Parameters, charset included, are
	// ignored: Parse requires UTF-8 anyway.
	ctype := resp.Header.Get("Content-Type")
	if mediaType, _, err := mime.ParseMediaType(ctype); mediaType != "text/plain" ||
		err != nil && err != mime.ErrInvalidMediaParameter {
		return nil, fmt.Errorf("mtasts: GET %s: Content-Type %q, not text/plain (RFC 8461 §3.3)", url, ctype)
	}
	p, err := Parse(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("mtasts: GET %s: %w", url, err)
	}
	p.ID = id
	return p, nil
}

// client returns the Client, or the default one, made to follow no
// redirect and to keep no cookies.
func (f *Fetcher) client() *http.Client {
	base := f.Client
	if base == nil {
		f.defaultClientOnce.Do(func() { f.defaultClient = newDefaultClient(f.resolver()) })
		base = f.defaultClient
	}
	c := *base
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.Jar = nil
	return &c
}

// newDefaultClient returns the Client of a Fetcher whose Client is nil:
// it finds the policy host's addresses with resolver, the Fetcher's, as
// every other lookup of the sender. It keeps no connection open: a
// domain's policy is fetched about once a day.
func newDefaultClient(resolver dnsx.Resolver) *http.Client {
	dialer := &net.Dialer{Timeout: 30 * time.Second}
	return &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         resolvingDial(dialer, resolver),
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 10 * time.Second,
		DisableKeepAlives:   true,
		ForceAttemptHTTP2:   true,
	}}
}

// resolvingDial returns a DialContext that looks the host up with
// resolver and dials its addresses in turn, until one answers.
func resolvingDial(d *net.Dialer, resolver dnsx.Resolver) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if ip, err := netip.ParseAddr(host); err == nil {
			return d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		}
		ips, err := resolver.LookupIPAddr(ctx, host)
		if err != nil {
			return nil, err
		}
		var errs []error
		for _, ip := range ips {
			c, err := d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
			if err == nil {
				return c, nil
			}
			errs = append(errs, err)
		}
		if len(errs) == 0 {
			return nil, fmt.Errorf("mtasts: %s has no address", host)
		}
		return nil, errors.Join(errs...)
	}
}

// fetchTimeout is FetchTimeout with its default; negative means none.
func (f *Fetcher) fetchTimeout() time.Duration {
	if f.FetchTimeout == 0 {
		return DefaultFetchTimeout
	}
	return f.FetchTimeout
}
