// Package acmetest runs Let's Encrypt's test ACME server, pebble, inside a
// test on loopback, the way net/http/httptest runs an HTTP server.
//
// Pebble's validation authority resolves names with the DNS server given
// in Options (dnsx/dnstest serves one on loopback) and asks for HTTP-01
// answers on Options.HTTPPort (and TLS-ALPN-01 answers on Options.TLSPort)
// of the address it finds, so nothing reaches the internet. Its random
// delays and rejected nonces are turned off.
package acmetest

import (
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
)

// Options configures a Server.
type Options struct {
	// DNS is the address of the DNS server the CA resolves names with
	// (required).
	DNS string
	// HTTPPort is the port the CA asks HTTP-01 challenges on (required).
	HTTPPort int
	// TLSPort is the port the CA makes its TLS-ALPN-01 handshakes on (RFC
	// 8737); zero means none, and that challenge fails.
	TLSPort int
	// Validity is how long certificates are valid; zero means pebble's
	// default of 90 days.
	Validity time.Duration
}

// Server is a running pebble.
type Server struct {
	// DirectoryURL is the ACME directory (RFC 8555 §7.1.1).
	DirectoryURL string
	// Client is an HTTP client that trusts the server's TLS certificate.
	Client *http.Client
	// CertFile is a PEM file of that TLS certificate, for SSL_CERT_FILE.
	CertFile string
	// Roots trusts the certificates the CA issues.
	Roots *x509.CertPool

	orders atomic.Int64
}

// NewServer starts pebble for the length of the test t. It sets
// PEBBLE_VA_NOSLEEP and PEBBLE_WFE_NONCEREJECT with t.Setenv, so the test
// may not be parallel.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	logger := log.New(io.Discard, "", 0)
	store := db.NewMemoryStore()
	profiles := map[string]ca.Profile{"default": {Description: "acmetest", ValidityPeriod: uint64(opts.Validity / time.Second)}}
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, profiles)
	validator := va.New(logger, opts.HTTPPort, opts.TLSPort, false, opts.DNS, store)
	// No Retry-After on pending authorizations and orders: the client
	// polls every second instead of every 3 to 5, so that an issuance
	// takes about a second and a test certificate of a few seconds is
	// not expired on arrival on a loaded machine.
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	s := &Server{Roots: x509.NewCertPool()}
	s.Roots.AddCert(authority.GetRootCert(0).Cert)
	handler := front.Handler()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/order-plz" {
			s.orders.Add(1)
		}
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.DirectoryURL = srv.URL + "/dir"
	s.Client = srv.Client()
	s.CertFile = filepath.Join(t.TempDir(), "acmetest.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(s.CertFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// Orders is how many new orders (RFC 8555 §7.4) the server has received.
func (s *Server) Orders() int64 { return s.orders.Load() }
