package certs

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// ACMEOptions says where and for which names an ACME certificate authority
// issues certificates.
type ACMEOptions struct {
	// Hosts are the names certificates are obtained for (required). A
	// handshake without a server name (SNI), as many SMTP clients make it,
	// gets the certificate of Hosts[0].
	Hosts []string
	// Email is the contact address given to the CA for the account; empty
	// means none.
	Email string
	// Dir is the directory where the account key and the certificates are
	// kept, so that a restart reuses them (required).
	Dir string
	// DirectoryURL is the CA's ACME directory; empty means Let's Encrypt's
	// production directory (acme.LetsEncryptURL).
	DirectoryURL string
	// HTTPClient talks to the CA; nil means http.DefaultClient, which
	// trusts the system roots (and SSL_CERT_FILE).
	HTTPClient *http.Client
	// RenewBefore is how long before a certificate expires it is renewed;
	// zero means autocert's default: a third of the certificate's life,
	// at most 30 days.
	RenewBefore time.Duration
	// RetryAfter is how long, after an attempt to get a certificate for a
	// name failed, handshakes for that name fail at once instead of
	// starting another: the wait doubles with each failure in a row, up to
	// an hour, and a success forgets it. Zero means DefaultRetryAfter,
	// negative means every handshake tries again.
	RetryAfter time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// DefaultRetryAfter is the default of ACMEOptions.RetryAfter: two minutes,
// so that a name that keeps failing (DNS not yet pointing at the host, port
// 80 closed) is tried less and less often, down to once an hour, instead of
// at every client's STARTTLS: Let's Encrypt allows five failed validations
// of a name an hour, and each attempt may try two challenges (TLS-ALPN-01,
// then HTTP-01). autocert itself only waits a minute after a failure.
const DefaultRetryAfter = 2 * time.Minute

// maxRetryAfter is the longest wait between two attempts for one name.
const maxRetryAfter = time.Hour

// ACME obtains certificates from an ACME certificate authority (RFC 8555),
// proving control of each name with the TLS-ALPN-01 challenge (RFC 8737),
// answered by a TLS server on port 443 with the configuration of TLSConfig,
// or with the HTTP-01 challenge (RFC 8555 §8.3), answered by HTTPHandler on
// port 80; it keeps them in a directory and renews them before they
// expire. Each attempt tries TLS-ALPN-01 first, then HTTP-01 once
// HTTPHandler has been called. It is golang.org/x/crypto/acme/autocert's
// Manager with what a mail server needs on top: a default name for clients
// without SNI, a wait after a failed attempt, and a challenge handler that
// serves behind a port other than 80.
type ACME struct {
	// Manager does the work; its fields may be changed before first use.
	Manager     *autocert.Manager
	defaultHost string
	hosts       map[string]bool
	retryAfter  time.Duration
	now         func() time.Time

	mu     sync.Mutex
	failed map[string]failure // by host, only names of Hosts
}

// failure is the last failed attempt to get a name's certificate.
type failure struct {
	err   error
	wait  time.Duration // since the failure
	until time.Time     // no new attempt before
}

// NewACME returns an ACME for opts, checking that opts names at least one
// host and a directory.
func NewACME(opts ACMEOptions) (*ACME, error) {
	if len(opts.Hosts) == 0 {
		return nil, errors.New("certs: ACME needs at least one host name")
	}
	if opts.Dir == "" {
		return nil, errors.New("certs: ACME needs a directory to keep its account and certificates")
	}
	for _, h := range opts.Hosts {
		if h == "" || net.ParseIP(h) != nil {
			return nil, fmt.Errorf("certs: ACME host %q is not a domain name", h)
		}
	}
	url := opts.DirectoryURL
	if url == "" {
		url = acme.LetsEncryptURL
	}
	m := &autocert.Manager{
		Prompt:      autocert.AcceptTOS,
		Cache:       autocert.DirCache(opts.Dir),
		HostPolicy:  autocert.HostWhitelist(opts.Hosts...),
		RenewBefore: opts.RenewBefore,
		Email:       opts.Email,
		Client:      &acme.Client{DirectoryURL: url, HTTPClient: opts.HTTPClient},
	}
	a := &ACME{Manager: m, defaultHost: opts.Hosts[0], hosts: make(map[string]bool), failed: make(map[string]failure),
		retryAfter: opts.RetryAfter, now: opts.Now}
	if a.retryAfter == 0 {
		a.retryAfter = DefaultRetryAfter
	}
	if a.now == nil {
		a.now = time.Now
	}
	for _, h := range opts.Hosts {
		a.hosts[strings.ToLower(h)] = true
	}
	return a, nil
}

// GetCertificate is for tls.Config.GetCertificate. The first handshake for
// a name waits for the certificate to be issued. When that fails, the
// handshakes for the name fail at once, with the error of the attempt, until
// RetryAfter has passed; the next one tries again.
func (a *ACME) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if hello.ServerName == "" {
		h := *hello
		h.ServerName = a.defaultHost
		hello = &h
	}
	host := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if !a.hosts[host] || a.retryAfter < 0 || slices.Contains(hello.SupportedProtos, acme.ALPNProto) {
		return a.Manager.GetCertificate(hello)
	}
	a.mu.Lock()
	f, failed := a.failed[host]
	a.mu.Unlock()
	if failed && a.now().Before(f.until) {
		return nil, fmt.Errorf("certs: no certificate for %s yet: the last attempt failed (%w); next attempt after %s",
			host, f.err, f.until.UTC().Format(time.RFC3339))
	}
	c, err := a.Manager.GetCertificate(hello)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err == nil {
		delete(a.failed, host)
		return c, nil
	}
	wait := a.retryAfter
	if failed {
		wait = min(2*f.wait, max(maxRetryAfter, a.retryAfter))
	}
	a.failed[host] = failure{err: err, wait: wait, until: a.now().Add(wait)}
	return nil, err
}

// TLSConfig returns a TLS server configuration that serves the
// certificates of GetCertificate and answers the CA's TLS-ALPN-01
// challenges: it offers their ALPN protocol (acme.ALPNProto) after protos,
// which a server lists in order of preference (for net/http: "h2",
// "http/1.1"). The CA makes its handshakes on port 443 of the name.
func (a *ACME) TLSConfig(protos ...string) *tls.Config {
	return &tls.Config{
		GetCertificate: a.GetCertificate,
		NextProtos:     append(slices.Clip(protos), acme.ALPNProto),
		MinVersion:     tls.VersionTLS12,
	}
}

// HTTPHandler answers the CA's HTTP-01 challenges and redirects every other
// request to https. The CA asks on port 80; the port in a Host header, as
// when port 80 is forwarded to the handler's own port, is ignored.
func (a *ACME) HTTPHandler() http.Handler {
	h := a.Manager.HTTPHandler(nil)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if host, _, err := net.SplitHostPort(r.Host); err == nil {
			r = r.Clone(r.Context())
			r.Host = host
		}
		h.ServeHTTP(w, r)
	})
}
