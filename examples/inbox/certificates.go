package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ownmx/ownmx/certs"
)

// certificates returns STARTTLS's configuration: the certificate from
// -tls-cert and -tls-key, reloaded when they change, or from the ACME CA
// with -acme-dir, whose HTTP-01 challenges it starts answering on
// -acme-http (and TLS-ALPN-01 challenges on the MTA-STS policy's HTTPS
// server, with -mta-sts). It returns nil without either.
func (in *inbox) certificates(cfg *config, log *slog.Logger) (*tls.Config, error) {
	switch {
	case cfg.tlsCert != "":
		kp, err := certs.LoadKeyPair(cfg.tlsCert, cfg.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("-tls-cert %q, -tls-key %q: %w", cfg.tlsCert, cfg.tlsKey, err)
		}
		kp.Logger = log
		in.keyPair = kp
		return &tls.Config{GetCertificate: kp.GetCertificate, MinVersion: tls.VersionTLS12}, nil
	case cfg.acmeDir != "":
		// The names of the MTA-STS policy (-mta-sts) get certificates too.
		hosts := append([]string{cfg.hostname}, stsHosts(cfg)...)
		a, err := certs.NewACME(certs.ACMEOptions{Hosts: hosts, Email: cfg.acmeEmail,
			Dir: cfg.acmeDir, DirectoryURL: cfg.acmeCA})
		if err != nil {
			return nil, fmt.Errorf("-acme-dir %q, -hostname %q: %w", cfg.acmeDir, cfg.hostname, err)
		}
		in.acme = a
		l, err := net.Listen("tcp", cfg.acmeHTTP)
		if err != nil {
			return nil, fmt.Errorf("-acme-http %q: %w", cfg.acmeHTTP, err)
		}
		srv := &http.Server{Handler: a.HTTPHandler(), ReadHeaderTimeout: 10 * time.Second}
		served := make(chan struct{})
		go func() {
			defer close(served)
			if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
				log.Error("ACME HTTP-01 server stopped", "addr", cfg.acmeHTTP, "err", err)
			}
		}()
		in.close = append(in.close, func() { srv.Close(); <-served })
		log.Info("ACME", "ca", cfg.acmeCA, "hostname", strings.Join(hosts, ","), "dir", cfg.acmeDir, "http", l.Addr().String())
		return &tls.Config{GetCertificate: a.GetCertificate, MinVersion: tls.VersionTLS12}, nil
	}
	return nil, nil
}

// reloadOnHangup reloads kp at each SIGHUP until the returned stop is
// called. SIGHUP is caught even when kp is nil (no -tls-cert: nothing is
// read from files), so that a reload asked by a service manager never ends
// the process; it is logged then.
func reloadOnHangup(kp *certs.KeyPair, log *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-hup:
				if kp == nil {
					log.Info("SIGHUP: nothing to reload (no -tls-cert)")
					continue
				}
				kp.Reload() // logged by kp; the previous pair stays on error
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(hup); close(done); <-finished }
}
