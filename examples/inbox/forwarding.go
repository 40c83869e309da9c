package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ownmx/ownmx/auth"
	"github.com/ownmx/ownmx/dnsx"
	"github.com/ownmx/ownmx/forward"
	"github.com/ownmx/ownmx/mtasts"
	outbound "github.com/ownmx/ownmx/send"
	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/srs"
)

// srsSecretFile is the file, in the queue's directory unless -srs-secret,
// that holds the SRS secrets: made with a random one at first start.
const srsSecretFile = "srs.secret"

// forwardFlags defines the flags of forwarding on fs.
func forwardFlags(fs *flag.FlagSet, cfg *config) {
	fs.Func("forward", "forward the mail of `LOCAL=ADDRESS` (me=me@mail.example, or me@example.com=...) to ADDRESS; repeat for more", func(v string) error {
		local, target, ok := strings.Cut(v, "=")
		if !ok || local == "" || target == "" {
			return fmt.Errorf("want LOCAL=ADDRESS, such as me=me@mail.example")
		}
		pattern := local
		if !strings.Contains(local, "@") {
			pattern = local + "@"
		}
		if err := checkForwardAddress(target); err != nil {
			return err
		}
		cfg.forwards = append(cfg.forwards, routeLine{pattern: pattern, action: "forward", target: target})
		return nil
	})
	fs.StringVar(&cfg.forwardDomain, "forward-domain", "", "`domain` of the SRS addresses and of the ARC signature of forwarded mail, one of -domain (default: the first -domain)")
	fs.StringVar(&cfg.dkimKey, "dkim-key", "", "private key `file` (PEM; Ed25519, or RSA of 2048 bits) that signs the ARC sets of forwarded mail (default: no ARC set)")
	fs.StringVar(&cfg.dkimSelector, "dkim-selector", "ownmx", "DKIM `selector` of -dkim-key: its public key is published at SELECTOR._domainkey.DOMAIN")
	fs.StringVar(&cfg.srsSecret, "srs-secret", "", "`file` of SRS secrets, one per line, the first signing (default: srs.secret in the queue's directory, made at first start)")
	fs.IntVar(&cfg.smtpPort, "smtp-port", 25, "TCP `port` of the MX hosts that forwarded mail goes to (for tests)")
}

// checkForwardFlags checks the forwarding flags once parsed.
func checkForwardFlags(cfg *config) error {
	if cfg.smtpPort <= 0 || cfg.smtpPort > 65535 {
		return fmt.Errorf("-smtp-port %d: want a TCP port", cfg.smtpPort)
	}
	if cfg.forwardDomain == "" {
		cfg.forwardDomain = cfg.domains[0]
	}
	fd, err := smtpd.ToASCII(strings.TrimSuffix(cfg.forwardDomain, "."))
	if err != nil {
		return fmt.Errorf("-forward-domain %q: %v", cfg.forwardDomain, err)
	}
	for _, d := range cfg.domains {
		if a, err := smtpd.ToASCII(strings.TrimSuffix(d, ".")); err == nil && a == fd {
			cfg.forwardDomain = fd
			return nil
		}
	}
	return fmt.Errorf("-forward-domain %q is not one of -domain: bounces to its SRS addresses must be received here", cfg.forwardDomain)
}

// newForwarder makes the Forwarder of cfg's forwards, on resolver.
func newForwarder(cfg *config, resolver dnsx.Resolver, checker *auth.Checker, log *slog.Logger) (*forward.Forwarder, error) {
	if cfg.postgres != "" && cfg.srsSecret == "" {
		// Each MX host would make a secret of its own, and refuse the
		// bounces to the SRS addresses the others made.
		return nil, errors.New("-postgres with forwarding needs -srs-secret FILE, the same file on every MX host")
	}
	secretFile := cfg.srsSecret
	if secretFile == "" {
		secretFile = filepath.Join(cfg.queueDir, srsSecretFile)
	}
	secrets, err := loadSRSSecrets(secretFile, cfg.srsSecret == "")
	if err != nil {
		return nil, err
	}
	var sealer *auth.Sealer
	if cfg.dkimKey != "" {
		pem, err := os.ReadFile(cfg.dkimKey)
		if err != nil {
			return nil, fmt.Errorf("-dkim-key: %w", err)
		}
		key, err := auth.ParseSigningKey(pem)
		if err != nil {
			return nil, fmt.Errorf("-dkim-key %s: %w", cfg.dkimKey, err)
		}
		sealer = &auth.Sealer{Domain: cfg.forwardDomain, Selector: cfg.dkimSelector, Key: key, AuthServID: cfg.hostname}
	} else {
		log.Warn("forwarding without ARC: give -dkim-key so that destinations see this server's SPF, DKIM and DMARC results")
	}
	sender := &outbound.Sender{
		Hostname: cfg.hostname,
		Resolver: resolver,
		MTASTS:   &mtasts.Fetcher{Resolver: resolver},
		Logger:   log,
	}
	if cfg.smtpPort != 25 {
		port := strconv.Itoa(cfg.smtpPort)
		var d net.Dialer
		sender.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			return d.DialContext(ctx, network, net.JoinHostPort(host, port))
		}
	}
	return &forward.Forwarder{
		Sender:   sender,
		SRS:      &srs.Rewriter{Domain: cfg.forwardDomain, Secrets: secrets},
		Sealer:   sealer,
		Checker:  checker,
		Hostname: cfg.hostname,
		Domains:  cfg.domains,
		Logger:   log,
	}, nil
}

// loadSRSSecrets reads the SRS secrets of path, one per line, the first
// signing; when create is set and path does not exist, it makes it with a
// new random secret.
func loadSRSSecrets(path string, create bool) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("SRS secret: %w", err)
		}
		var b [32]byte
		rand.Read(b[:])
		data = []byte(hex.EncodeToString(b[:]) + "\n")
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			_, err = f.Write(data)
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if errors.Is(err, fs.ErrExist) {
			data, err = os.ReadFile(path) // made by another process at once
		}
		if err != nil {
			return nil, fmt.Errorf("SRS secret %s: %w", path, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("-srs-secret: %w", err)
	}
	var secrets [][]byte
	for line := range strings.SplitSeq(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			secrets = append(secrets, []byte(line))
		}
	}
	if len(secrets) == 0 {
		return nil, fmt.Errorf("SRS secret %s: no secret in it", path)
	}
	return secrets, nil
}
