package certs

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
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
	// zero means autocert's default of 30 days.
	RenewBefore time.Duration
}

// ACME obtains certificates from an ACME certificate authority (RFC 8555),
// proving control of each name with the HTTP-01 challenge (RFC 8555 §8.3)
// answered by HTTPHandler, keeps them in a directory and renews them before
// they expire. It is golang.org/x/crypto/acme/autocert's Manager with what a
// mail server needs on top: a default name for clients without SNI, and a
// challenge handler that serves behind a port other than 80.
type ACME struct {
	// Manager does the work; its fields may be changed before first use.
	Manager     *autocert.Manager
	defaultHost string
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
	return &ACME{Manager: m, defaultHost: opts.Hosts[0]}, nil
}

// GetCertificate is for tls.Config.GetCertificate. The first handshake for
// a name waits for the certificate to be issued.
func (a *ACME) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if hello.ServerName == "" {
		h := *hello
		h.ServerName = a.defaultHost
		hello = &h
	}
	return a.Manager.GetCertificate(hello)
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
