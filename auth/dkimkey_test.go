package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/ownmx/ownmx/dnsx"
	"github.com/ownmx/ownmx/dnsx/dnstest"
)

// opensslTool returns the path of openssl, which the key tests use to make
// keys as users do.
func opensslTool(t *testing.T) string {
	t.Helper()
	tool, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl is not installed: .ci/run must install the Debian package openssl")
	}
	return tool
}

// openssl runs openssl with args and returns what it wrote to standard
// output.
func openssl(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), opensslTool(t), args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl %s: %v: %s", strings.Join(args, " "), err, &stderr)
	}
	return out
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func pkcs8(t *testing.T, k any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pemBlock("PRIVATE KEY", der)
}

// Every kind of key file a user may hold: those DKIM signs with parse,
// and each other one is refused with an error that names what it is.
func TestParseSigningKey(t *testing.T) {
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	xKey, _ := ecdh.X25519().GenerateKey(rand.Reader)
	pkcs1 := pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey()))
	encrypted := openssl(t, nil, "genpkey", "-algorithm", "ed25519", "-aes256", "-pass", "pass:secret")
	legacyEncrypted := openssl(t, nil, "genrsa", "-traditional", "-aes128", "-passout", "pass:secret", "1024")
	ecParams := openssl(t, nil, "ecparam", "-name", "prime256v1", "-genkey")
	cert := openssl(t, pkcs8(t, edKey()), "req", "-new", "-x509", "-key", "/dev/stdin", "-subj", "/CN=x", "-days", "1")

	for _, tt := range []struct {
		name string
		pem  []byte
		want crypto.PublicKey // or nil, and then err says errWant
		err  []string
	}{
		{"PKCS#1 RSA 2048", pkcs1, rsaKey().Public(), nil},
		{"PKCS#8 RSA 2048", pkcs8(t, rsaKey()), rsaKey().Public(), nil},
		{"PKCS#8 Ed25519", pkcs8(t, edKey()), edKey().Public(), nil},
		{"PKCS#8 RSA 1024, the least RFC 8301 §3.2 allows", pkcs8(t, rsa1024), rsa1024.Public(), nil},
		{"after text and a certificate", append(append([]byte("my DKIM key\n"), cert...), pkcs1...), rsaKey().Public(), nil},
		{"PKCS#1 RSA 512", openssl(t, nil, "genrsa", "-traditional", "512"), nil, []string{"PKCS#1 key is RSA of 512 bits", "RFC 8301 §3.2"}},
		{"PKCS#8 RSA 1023", openssl(t, nil, "genrsa", "1023"), nil, []string{"PKCS#8 key is RSA of 1023 bits", "RFC 8301 §3.2"}},
		{"SEC 1 EC key", ecParams, nil, []string{"EC PRIVATE KEY block", "RSA", "Ed25519"}},
		{"PKCS#8 ECDSA", pkcs8(t, ecKey), nil, []string{"ECDSA key (P-256)"}},
		{"PKCS#8 X25519", pkcs8(t, xKey), nil, []string{"ECDH key (X25519)"}},
		{"PKCS#8 Ed448", openssl(t, nil, "genpkey", "-algorithm", "ed448"), nil, []string{"PKCS#8", "1.3.101.113"}},
		{"encrypted PKCS#8", encrypted, nil, []string{"ENCRYPTED PRIVATE KEY is encrypted", "openssl pkey"}},
		{"encrypted PKCS#1", legacyEncrypted, nil, []string{"RSA PRIVATE KEY is encrypted"}},
		{"OpenSSH key", pemBlock("OPENSSH PRIVATE KEY", []byte("openssh-key-v1\x00")), nil, []string{"OPENSSH PRIVATE KEY block"}},
		{"PKCS#8 labelled PKCS#1", pemBlock("RSA PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(edKey()))), nil, []string{"does not parse as PKCS#1"}},
		{"damaged PKCS#8", pemBlock("PRIVATE KEY", []byte("not DER")), nil, []string{"PKCS#8 PRIVATE KEY does not parse"}},
		{"public key only", pemBlock("PUBLIC KEY", must(x509.MarshalPKIXPublicKey(edKey().Public()))), nil, []string{"no private key", "PUBLIC KEY"}},
		{"certificate only", cert, nil, []string{"no private key", "CERTIFICATE"}},
		{"empty", nil, nil, []string{"no PEM data"}},
		{"DER, not PEM", must(x509.MarshalPKCS8PrivateKey(edKey())), nil, []string{"no PEM data"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseSigningKey(tt.pem)
			if tt.want != nil {
				if err != nil {
					t.Fatal(err)
				}
				if !tt.want.(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public()) {
					t.Errorf("ParseSigningKey gives another key")
				}
				return
			}
			if k != nil || err == nil {
				t.Fatalf("ParseSigningKey = %T, %v; want an error", k, err)
			}
			for _, w := range append(tt.err, "auth: DKIM key: ") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// DKIMKeyRecord's records are the forms RFC 6376 §3.6.1 and RFC 8463 §4
// give, for a public key or a private key alike, and the verifier passes
// signatures made with the keys they publish.
func TestDKIMKeyRecord(t *testing.T) {
	for _, tt := range []struct {
		name   string
		signer crypto.Signer
		want   string
	}{
		{"rsa", rsaKey(), "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(must(x509.MarshalPKIXPublicKey(rsaKey().Public())))},
		{"ed25519", edKey(), "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(edKey().Public().(ed25519.PublicKey))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []crypto.PublicKey{tt.signer.Public(), tt.signer} {
				if got, err := DKIMKeyRecord(k); got != tt.want || err != nil {
					t.Errorf("DKIMKeyRecord(%T) = %q, %v; want %q", k, got, err, tt.want)
				}
			}
			c := checkerWithKey(t, tt.signer)
			msg := sign(t, testMessage("alice@example.com"), "example.com", "new", func(o *dkim.SignOptions) { o.Signer = tt.signer })
			res, err := c.DKIM(t.Context(), strings.NewReader(msg))
			if err != nil || len(res) != 1 || res[0].Result != Pass {
				t.Errorf("a signature with the published key: %+v, %v; want pass", res, err)
			}
		})
	}

	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	xKey, _ := ecdh.X25519().GenerateKey(rand.Reader)
	small := &rsa.PublicKey{N: new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 1022), big.NewInt(1)), E: 65537}
	for _, tt := range []struct {
		name string
		key  crypto.PublicKey
		want string
	}{
		{"ECDSA", ecKey.Public(), "ECDSA key (P-256)"},
		{"ECDSA private", ecKey, "ECDSA key (P-256)"},
		{"X25519", xKey.PublicKey(), "ECDH key (X25519)"},
		{"RSA of 1023 bits", small, "RSA key of 1023 bits"},
		{"nil RSA", (*rsa.PublicKey)(nil), "nil RSA key"},
		{"short Ed25519", ed25519.PublicKey(make([]byte, 31)), "Ed25519 key of 31 bytes"},
		{"nil", nil, "no key"},
	} {
		if got, err := DKIMKeyRecord(tt.key); got != "" || err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: DKIMKeyRecord = %q, %v; want an error saying %q", tt.name, got, err, tt.want)
		}
	}
}

// checkerWithKey starts a dnstest server publishing DKIMKeyRecord(key) at
// new._domainkey.example.com and returns a Checker that asks it.
func checkerWithKey(t *testing.T, key crypto.PublicKey) *Checker {
	t.Helper()
	rec, err := DKIMKeyRecord(key)
	if err != nil {
		t.Fatal(err)
	}
	srv := dnstest.NewServer(t, "example.com. 3600 IN SOA ns.example.com. hostmaster.example.com. 1 3600 600 86400 300\n"+
		"new._domainkey.example.com. IN TXT "+txtStrings(rec)+"\n")
	return &Checker{
		Resolver: &dnsx.Client{Nameserver: srv.Addr, Timeout: time.Second, Attempts: 1},
		Timeout:  5 * time.Second,
		Logger:   slog.New(slog.DiscardHandler),
		Now:      func() time.Time { return testNow },
		Rand:     func(int) int { panic("Rand called") },
	}
}

// TestInteropKeyFiles: keys made by openssl, as a user makes them, parse;
// the records DKIMKeyRecord gives hold the public keys openssl derives;
// served by dnstest, they let ownmx verify what dkimpy's dkimsign signs
// with the key files, and let dkimpy verify what ownmx signs with the
// parsed keys.
func TestInteropKeyFiles(t *testing.T) {
	dkimsign, err := exec.LookPath("dkimsign")
	if err != nil {
		t.Fatal("dkimsign is not installed: .ci/run installs python3-dkim")
	}
	dir := t.TempDir()
	rsaPKCS8 := openssl(t, nil, "genrsa", "2048")
	for _, tt := range []struct {
		name     string
		pem      []byte
		begin    string // the PEM block's first line
		signalg  string
		spkiSkip int // bytes of the SubjectPublicKeyInfo before the Ed25519 key
	}{
		{"openssl genrsa 2048 (PKCS#8)", rsaPKCS8, "-----BEGIN PRIVATE KEY-----", "rsa-sha256", 0},
		// What openssl genrsa -traditional writes, without making
		// another key.
		{"openssl pkey -traditional (PKCS#1)", openssl(t, rsaPKCS8, "pkey", "-traditional"), "-----BEGIN RSA PRIVATE KEY-----", "rsa-sha256", 0},
		{"openssl genpkey -algorithm ed25519", openssl(t, nil, "genpkey", "-algorithm", "ed25519"), "-----BEGIN PRIVATE KEY-----", "ed25519-sha256", 12},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pemKey := tt.pem
			keyFile := filepath.Join(dir, "key.pem")
			if err := os.WriteFile(keyFile, pemKey, 0o600); err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(pemKey, []byte(tt.begin+"\n")) {
				t.Fatalf("openssl wrote another form than %s:\n%s", tt.name, pemKey)
			}
			key, err := ParseSigningKey(pemKey)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := DKIMKeyRecord(key.Public())
			if err != nil {
				t.Fatal(err)
			}
			// The public key as openssl derives it from the file.
			spki := openssl(t, nil, "pkey", "-in", keyFile, "-pubout", "-outform", "DER")
			if want := base64.StdEncoding.EncodeToString(spki[tt.spkiSkip:]); !strings.HasSuffix(rec, "; p="+want) {
				t.Fatalf("DKIMKeyRecord = %q, want p=%s", rec, want)
			}

			// dkimsign reads an RSA key file as it is and an Ed25519
			// key as the base64 of its seed, which openssl's DER
			// (PKCS#8) ends with.
			signFile := keyFile
			if tt.signalg == "ed25519-sha256" {
				der := openssl(t, nil, "pkey", "-in", keyFile, "-outform", "DER")
				signFile = filepath.Join(dir, "seed")
				seed := base64.StdEncoding.EncodeToString(der[len(der)-ed25519.SeedSize:])
				if err := os.WriteFile(signFile, []byte(seed+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			msg := testMessage("alice@example.com")
			cmd := exec.CommandContext(t.Context(), dkimsign, "--signalg", tt.signalg, "new", "example.com", signFile)
			cmd.Stdin = strings.NewReader(msg)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			signed, err := cmd.Output()
			if err != nil || !bytes.HasPrefix(signed, []byte("DKIM-Signature:")) {
				t.Fatalf("dkimsign: %v: %s%s", err, stderr.String(), signed)
			}
			c := checkerWithKey(t, key)
			res, err := c.DKIM(t.Context(), bytes.NewReader(signed))
			if err != nil || len(res) != 1 || res[0].Result != Pass || res[0].Domain != "example.com" {
				t.Errorf("ownmx verifies dkimsign's signature as %+v, %v; want pass", res, err)
			}

			// And the other way: signed by ownmx with the parsed key,
			// verified by dkimpy, which reads the record from dnstest.
			ours := sign(t, msg, "example.com", "new", func(o *dkim.SignOptions) { o.Signer = key })
			dnsAddr := c.Resolver.(*dnsx.Client).Nameserver
			if out, ok := dkimpyVerify(t, ours, dnsAddr); !ok {
				t.Errorf("dkimpy does not verify ownmx's signature with the published key: %s", out)
			}
		})
	}
}

// dkimpyVerify runs dkimpy's verify on msg, reading TXT records from the
// DNS server at addr, and reports whether it passes, with its output.
func dkimpyVerify(t *testing.T, msg, addr string) (string, bool) {
	t.Helper()
	const script = `
import sys, dkim, dns.resolver
host, port = sys.argv[1].rsplit(":", 1)
r = dns.resolver.Resolver(configure=False)
r.nameservers, r.port = [host], int(port)
def txt(name, timeout=5):
    answer = r.resolve(name.decode(), "TXT", lifetime=timeout)
    return b"".join(answer[0].strings)
ok = dkim.verify(sys.stdin.buffer.read(), dnsfunc=txt)
print("pass" if ok else "fail")
`
	// Debian's python3, which python3-dkim installs into.
	cmd := exec.CommandContext(t.Context(), "/usr/bin/python3", "-c", script, addr)
	cmd.Stdin = strings.NewReader(msg)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dkimpy: %v: %s", err, out)
	}
	return string(out), strings.TrimSpace(string(out)) == "pass"
}
