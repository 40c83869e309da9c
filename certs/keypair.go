package certs

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// DefaultCheckInterval is how often, at most, KeyPair reads its files again
// during handshakes when KeyPair.CheckInterval is zero.
const DefaultCheckInterval = 5 * time.Second

// KeyPair serves a certificate and private key loaded from PEM files, and
// loads them again when they change, without a restart.
//
// A handshake reads both files at most once every CheckInterval and loads
// them when their contents differ from the pair in use. Reading and
// comparing the bytes (a few kilobytes) rather than watching the files or
// comparing modification times needs no goroutine, and sees every way a
// tool replaces certificates: written in place, renamed over, or a symlink
// switched to a new directory, as certbot does. Reload loads them at once,
// for example on SIGHUP.
//
// A reload that fails, because the files are half-written, unreadable or
// the key does not match the certificate, keeps the pair in use, and the
// error is logged (and returned by Reload).
type KeyPair struct {
	// CheckInterval is the least time between two reads of the files by
	// handshakes: zero means DefaultCheckInterval, negative means the files
	// are read only by Reload.
	CheckInterval time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Logger gets a line for each reload, and for each reload that failed;
	// nil means slog.Default().
	Logger *slog.Logger

	certFile, keyFile string

	mu        sync.Mutex
	cert      *tls.Certificate // never changed once stored
	certPEM   []byte
	keyPEM    []byte
	lastCheck time.Time
}

// LoadKeyPair loads the certificate chain in certFile and its private key in
// keyFile, both PEM. The error names the file that is missing or unreadable,
// or both files when the key does not match the certificate.
func LoadKeyPair(certFile, keyFile string) (*KeyPair, error) {
	kp := &KeyPair{certFile: certFile, keyFile: keyFile}
	if _, err := kp.load(); err != nil {
		return nil, err
	}
	return kp, nil
}

// Reload reads both files and, when they differ from the pair in use, loads
// them. On error the pair in use is kept.
func (kp *KeyPair) Reload() error {
	kp.mu.Lock()
	defer kp.mu.Unlock()
	kp.lastCheck = kp.now()
	_, err := kp.reloadLocked()
	return err
}

// Certificate returns the pair in use.
func (kp *KeyPair) Certificate() *tls.Certificate {
	kp.mu.Lock()
	defer kp.mu.Unlock()
	return kp.cert
}

// GetCertificate is for tls.Config.GetCertificate: it returns the pair in
// use, after reading the files again when CheckInterval has passed since
// they were last read.
func (kp *KeyPair) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	kp.mu.Lock()
	defer kp.mu.Unlock()
	interval := kp.CheckInterval
	if interval == 0 {
		interval = DefaultCheckInterval
	}
	if now := kp.now(); interval > 0 && now.Sub(kp.lastCheck) >= interval {
		kp.lastCheck = now
		kp.reloadLocked() // a failure is logged and the pair in use kept
	}
	return kp.cert, nil
}

func (kp *KeyPair) reloadLocked() (bool, error) {
	changed, err := kp.load()
	if err != nil {
		kp.logger().Error("certificate not reloaded; the previous one stays in use", "cert", kp.certFile, "key", kp.keyFile, "err", err)
		return false, err
	}
	if changed {
		kp.logger().Info("certificate reloaded", "cert", kp.certFile, "key", kp.keyFile, "expires", kp.cert.Leaf.NotAfter)
	}
	return changed, nil
}

// load reads the files and stores the pair when it differs from the one in
// use. It reports whether it stored a new pair.
func (kp *KeyPair) load() (bool, error) {
	certPEM, err := os.ReadFile(kp.certFile)
	if err != nil {
		return false, fmt.Errorf("certificate file: %w", err)
	}
	keyPEM, err := os.ReadFile(kp.keyFile)
	if err != nil {
		return false, fmt.Errorf("key file: %w", err)
	}
	if kp.cert != nil && bytes.Equal(certPEM, kp.certPEM) && bytes.Equal(keyPEM, kp.keyPEM) {
		return false, nil
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return false, fmt.Errorf("certificate file %s with key file %s: %w", kp.certFile, kp.keyFile, err)
	}
	kp.cert, kp.certPEM, kp.keyPEM = &cert, certPEM, keyPEM
	return true, nil
}

func (kp *KeyPair) now() time.Time {
	if kp.Now != nil {
		return kp.Now()
	}
	return time.Now()
}

func (kp *KeyPair) logger() *slog.Logger {
	if kp.Logger != nil {
		return kp.Logger
	}
	return slog.Default()
}
