package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/ownmx/ownmx/mtasts"
	"github.com/ownmx/ownmx/smtpd"
)

// The limits of the HTTPS server of the policy. A policy fetch is one
// small GET (RFC 8461 §3.3): anything slower or bigger is not a sender.
const (
	stsReadTimeout    = 10 * time.Second
	stsWriteTimeout   = 10 * time.Second
	stsIdleTimeout    = time.Minute
	stsMaxHeaderBytes = 8 << 10
	// stsShutdownGrace is how long fetches in flight may take to finish
	// when the inbox stops.
	stsShutdownGrace = 5 * time.Second
)

// stsConfig is what the -mta-sts flags say.
type stsConfig struct {
	mode   string        // -mta-sts: testing, enforce or none; "" serves no policy
	maxAge time.Duration // -mta-sts-max-age
	listen string        // -mta-sts-listen
	mx     []string      // -mta-sts-mx, the mx patterns besides -hostname

	policy *mtasts.Policy // the policy served, nil without -mta-sts
}

// stsFlags defines the -mta-sts flags.
func stsFlags(fs *flag.FlagSet, cfg *config) {
	fs.StringVar(&cfg.sts.mode, "mta-sts", "", "serve an MTA-STS policy in this `mode`, testing or enforce (none withdraws one), at https://mta-sts.DOMAIN/.well-known/mta-sts.txt for each -domain (default: no policy served)")
	fs.DurationVar(&cfg.sts.maxAge, "mta-sts-max-age", mtasts.DefaultMaxAge, "max_age of the MTA-STS policy: how long senders keep it, at most 8766h (a year)")
	fs.StringVar(&cfg.sts.listen, "mta-sts-listen", ":443", "`address` of the HTTPS server of the MTA-STS policy")
	fs.Func("mta-sts-mx", "comma-separated `list` of mx patterns of the MTA-STS policy besides -hostname, such as mx2.example.com or *.example.net", func(v string) error {
		cfg.sts.mx = append(cfg.sts.mx, splitList(v)...)
		return nil
	})
}

// checkSTSFlags checks the -mta-sts flags once -hostname is known, and
// makes the policy.
func checkSTSFlags(cfg *config) error {
	if cfg.sts.mode == "" {
		return nil
	}
	mode := mtasts.Mode(cfg.sts.mode)
	if mode != mtasts.Testing && mode != mtasts.Enforce && mode != mtasts.None {
		return fmt.Errorf("-mta-sts %q: want testing or enforce (or none, to withdraw a policy)", cfg.sts.mode)
	}
	if cfg.tlsCert == "" && cfg.acmeDir == "" {
		return errors.New("-mta-sts needs a certificate for mta-sts.DOMAIN: give -acme-dir, or -tls-cert and -tls-key with a certificate that covers those names")
	}
	p := &mtasts.Policy{Mode: mode, MX: append([]string{cfg.hostname}, cfg.sts.mx...), MaxAge: cfg.sts.maxAge}
	if _, err := p.MarshalText(); err != nil {
		return fmt.Errorf("-mta-sts %s, -mta-sts-max-age %v, -hostname %q, -mta-sts-mx %q: %w", cfg.sts.mode, cfg.sts.maxAge, cfg.hostname, strings.Join(cfg.sts.mx, ","), err)
	}
	for _, d := range cfg.domains {
		if _, err := smtpd.ToASCII(strings.TrimSuffix(d, ".")); err != nil {
			return fmt.Errorf("-mta-sts for -domain %q: %v", d, err)
		}
	}
	cfg.sts.policy = p
	return nil
}

// stsHosts returns the names the policy is served under, mta-sts.DOMAIN
// for each -domain, or nil without -mta-sts.
func stsHosts(cfg *config) []string {
	if cfg.sts.policy == nil {
		return nil
	}
	var hosts []string
	for _, d := range cfg.domains {
		a, _ := smtpd.ToASCII(strings.TrimSuffix(d, ".")) // checked by checkSTSFlags
		hosts = append(hosts, "mta-sts."+strings.ToLower(a))
	}
	return hosts
}

// serveMTASTS starts the HTTPS server of the policy on -mta-sts-listen,
// with the certificates of certificates (whose ACME host policy includes
// stsHosts), and logs the records to publish. The server stops with the
// inbox, through in.close.
func (in *inbox) serveMTASTS(cfg *config, certificates *tls.Config, log *slog.Logger) error {
	if cfg.sts.policy == nil {
		return nil
	}
	policy, err := mtasts.Handler(cfg.sts.policy)
	if err != nil {
		return fmt.Errorf("-mta-sts: %w", err)
	}
	hosts := stsHosts(cfg)
	l, err := net.Listen("tcp", cfg.sts.listen)
	if err != nil {
		return fmt.Errorf("-mta-sts-listen %q: %w", cfg.sts.listen, err)
	}
	tlsConfig := &tls.Config{GetCertificate: certificates.GetCertificate, MinVersion: tls.VersionTLS12}
	if in.acme != nil {
		// On port 443 the server answers the CA's TLS-ALPN-01
		// challenges too: autocert tries that one first, and each
		// failed validation counts against the CA's limits.
		tlsConfig = in.acme.TLSConfig("h2", "http/1.1")
	}
	srv := &http.Server{
		Handler:           onlyHosts(hosts, policy),
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: stsReadTimeout,
		ReadTimeout:       stsReadTimeout,
		WriteTimeout:      stsWriteTimeout,
		IdleTimeout:       stsIdleTimeout,
		MaxHeaderBytes:    stsMaxHeaderBytes,
		// Failed handshakes of scanners are not worth a warning.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.ServeTLS(l, "", ""); !errors.Is(err, http.ErrServerClosed) {
			log.Error("MTA-STS HTTPS server stopped", "addr", cfg.sts.listen, "err", err)
		}
	}()
	in.close = append(in.close, func() {
		ctx, cancel := context.WithTimeout(context.Background(), stsShutdownGrace)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
		<-served
		log.Info("MTA-STS policy no longer served", "addr", l.Addr().String())
	})
	log.Info("serving MTA-STS policy", "addr", l.Addr().String(), "hosts", strings.Join(hosts, ","),
		"mode", cfg.sts.policy.Mode, "mx", strings.Join(cfg.sts.policy.MX, ","), "max_age", cfg.sts.policy.MaxAge.String())
	if cfg.tlsCert != "" {
		warnUncovered(hosts, certificates, cfg.tlsCert, log)
	}
	return logSTSRecords(cfg, l.Addr(), log)
}

// warnUncovered logs a warning for each of hosts that the certificate of
// -tls-cert is not valid for: senders would refuse the policy's HTTPS
// server (RFC 8461 §3.3), which is the same as publishing none. (ACME gets
// a certificate for each of them.)
func warnUncovered(hosts []string, certificates *tls.Config, certFile string, log *slog.Logger) {
	for _, h := range hosts {
		c, err := certificates.GetCertificate(&tls.ClientHelloInfo{ServerName: h})
		if err != nil || c == nil || c.Leaf == nil {
			continue
		}
		if err := c.Leaf.VerifyHostname(h); err != nil {
			log.Warn("the -tls-cert certificate is not valid for the MTA-STS policy's host: senders will not fetch the policy", "host", h, "tls_cert", certFile, "err", err)
		}
	}
}

// logSTSRecords logs the DNS records that announce the policy, one line
// each in zone-file form: the record's id changes with the policy, so
// they are logged at every start, from the flags in use.
func logSTSRecords(cfg *config, listening net.Addr, log *slog.Logger) error {
	// The listener's address is the one to publish only when it is a
	// public one; otherwise the operator knows the host's address.
	var ips []netip.Addr
	if ap, err := netip.ParseAddrPort(listening.String()); err == nil && ap.Addr().IsGlobalUnicast() && !ap.Addr().IsPrivate() {
		ips = append(ips, ap.Addr().Unmap())
	}
	for _, d := range cfg.domains {
		a, _ := smtpd.ToASCII(strings.TrimSuffix(d, "."))
		recs, err := mtasts.Records(a, cfg.sts.policy, ips, "")
		if err != nil {
			return fmt.Errorf("-mta-sts for -domain %q: %w", d, err)
		}
		for _, r := range recs {
			log.Info("MTA-STS record to publish", "record", r.ZoneLine())
		}
		if len(ips) == 0 {
			log.Info("MTA-STS: publish A and AAAA records of this name at this host's public addresses, or a CNAME to -hostname", "name", "mta-sts."+strings.ToLower(a))
		}
	}
	return nil
}

// onlyHosts serves h to requests for one of hosts (the Host header, its
// port ignored) and 404 to the others.
func onlyHosts(hosts []string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if hh, _, err := net.SplitHostPort(host); err == nil {
			host = hh
		}
		host = strings.TrimSuffix(strings.ToLower(host), ".")
		for _, want := range hosts {
			if host == want {
				h.ServeHTTP(w, r)
				return
			}
		}
		http.NotFound(w, r)
	})
}
