package certs

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// writePair writes a self-signed certificate for localhost with the given
// serial number and its key to dir, and returns the files' names.
func writePair(t *testing.T, dir string, serial int64) (certFile, keyFile string) {
	t.Helper()
	certPEM, keyPEM := newPair(t, serial)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func newPair(t *testing.T, serial int64) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

// fakeClock is a Now whose time moves only when the test says.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// echoServer serves TLS on loopback with the certificates of getCert
// (a KeyPair's or an ACME's), echoing each line back, and returns its
// address. A connection ends when its client closes it, or after a minute.
func echoServer(t *testing.T, getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: getCert})
	if err != nil {
		t.Fatal(err)
	}
	return serveEcho(t, ln)
}

// serveEcho serves the echo of echoServer on ln until the test ends.
func serveEcho(t *testing.T, ln net.Listener) string {
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(time.Minute))
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// dial opens a TLS connection and returns it with the serial number of the
// certificate the server gave.
func dial(t *testing.T, addr string) (*tls.Conn, int64) {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

func echo(t *testing.T, c *tls.Conn, line string) {
	t.Helper()
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		t.Fatalf("write on a connection opened before the reload: %v", err)
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || got != line+"\n" {
		t.Fatalf("echo on a connection opened before the reload: %q, %v", got, err)
	}
}

// servePair writes pair 1 into dir and serves it from a KeyPair whose
// time is clock, on the echo server at addr.
func servePair(t *testing.T, dir string) (kp *KeyPair, clock *fakeClock, addr, certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = writePair(t, dir, 1)
	kp, err := LoadKeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	clock = &fakeClock{now: time.Unix(1e9, 0)}
	kp.Now = clock.Now
	return kp, clock, echoServer(t, kp.GetCertificate), certFile, keyFile
}

func TestKeyPairReloadsChangedFiles(t *testing.T) {
	dir := t.TempDir()
	_, clock, addr, _, _ := servePair(t, dir)

	before, serial := dial(t, addr)
	if serial != 1 {
		t.Fatalf("first connection got serial %d, want 1", serial)
	}
	writePair(t, dir, 2)
	if _, serial := dial(t, addr); serial != 1 {
		t.Fatalf("before CheckInterval passed a connection got serial %d, want the old 1", serial)
	}
	clock.Add(DefaultCheckInterval)
	if _, serial := dial(t, addr); serial != 2 {
		t.Fatalf("after the files changed a connection got serial %d, want 2", serial)
	}
	echo(t, before, "still here")
	if got := before.ConnectionState().PeerCertificates[0].SerialNumber.Int64(); got != 1 {
		t.Fatalf("the connection opened before the reload now shows serial %d, want 1", got)
	}
}

func TestKeyPairReloadOnDemand(t *testing.T) {
	dir := t.TempDir()
	kp, _, addr, _, _ := servePair(t, dir)
	kp.CheckInterval = -1 // only Reload reads the files
	writePair(t, dir, 2)
	if _, serial := dial(t, addr); serial != 1 {
		t.Fatalf("without Reload a connection got serial %d, want 1", serial)
	}
	if err := kp.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, serial := dial(t, addr); serial != 2 {
		t.Fatalf("after Reload a connection got serial %d, want 2", serial)
	}
}

// TestKeyPairBadReloadKeepsOld replaces the files with every kind of bad
// pair: a reload fails, names the file, and the old certificate is served.
func TestKeyPairBadReloadKeepsOld(t *testing.T) {
	otherCert, otherKey := newPair(t, 3)
	goodCert, goodKey := newPair(t, 2)
	cases := []struct {
		name      string
		cert, key []byte // nil: the file is removed
		wantInErr string
	}{
		{"key of another certificate", goodCert, otherKey, "key file"},
		{"certificate half-written", goodCert[:len(goodCert)/2], goodKey, "certificate file"},
		{"key half-written", goodCert, goodKey[:len(goodKey)/2], "key file"},
		{"certificate empty", []byte{}, goodKey, "certificate file"},
		{"key empty", goodCert, []byte{}, "key file"},
		{"certificate missing", nil, goodKey, "cert.pem"},
		{"key missing", goodCert, nil, "key.pem"},
		{"both swapped", goodKey, goodCert, "certificate file"},
		{"other pair's certificate", otherCert, goodKey, "key file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			kp, clock, addr, certFile, keyFile := servePair(t, t.TempDir())
			for file, data := range map[string][]byte{certFile: tc.cert, keyFile: tc.key} {
				if data == nil {
					os.Remove(file)
				} else if err := os.WriteFile(file, data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			clock.Add(DefaultCheckInterval)
			if _, serial := dial(t, addr); serial != 1 {
				t.Fatalf("after a bad change a connection got serial %d, want the old 1", serial)
			}
			err := kp.Reload()
			if err == nil || !strings.Contains(err.Error(), tc.wantInErr) {
				t.Fatalf("Reload = %v, want an error naming %q", err, tc.wantInErr)
			}
			if _, serial := dial(t, addr); serial != 1 {
				t.Fatalf("after a failed Reload a connection got serial %d, want the old 1", serial)
			}
			// Once both files are good again, the new pair is served.
			os.WriteFile(certFile, goodCert, 0o600)
			os.WriteFile(keyFile, goodKey, 0o600)
			if err := kp.Reload(); err != nil {
				t.Fatal(err)
			}
			if _, serial := dial(t, addr); serial != 2 {
				t.Fatalf("after a good Reload a connection got serial %d, want 2", serial)
			}
		})
	}
}

func TestLoadKeyPairErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writePair(t, dir, 1)
	otherCert, _ := newPair(t, 2)
	mismatched := filepath.Join(dir, "other.pem")
	os.WriteFile(mismatched, otherCert, 0o600)
	missing := filepath.Join(dir, "missing.pem")
	cases := []struct{ cert, key, want string }{
		{missing, keyFile, missing},
		{certFile, missing, missing},
		{mismatched, keyFile, mismatched},
		{certFile, certFile, "key file"},
		{dir, keyFile, dir},
	}
	for _, tc := range cases {
		_, err := LoadKeyPair(tc.cert, tc.key)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LoadKeyPair(%q, %q) = %v, want an error naming %q", tc.cert, tc.key, err, tc.want)
		}
	}
}
