package auth

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"go.uber.org/goleak"

	"github.com/ownmx/ownmx/dnsx"
	"github.com/ownmx/ownmx/dnsx/dnstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testNow is the clock of every test Checker. It lies ahead of the
// machine's clock, which the dkim package uses for its own x= check: a
// signature expiring between the two shows that Checker.Now is the clock
// that counts.
var testNow = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

// Keys made once per test binary: an RSA key takes a while to generate.
var (
	rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		return k
	})
	edKey = sync.OnceValue(func() ed25519.PrivateKey {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
)

// keyRecord returns the DKIM key record (RFC 6376 §3.6.1) for signer's
// public key as zone text: quoted strings of at most 255 bytes.
func keyRecord(t testing.TB, signer crypto.Signer) string {
	t.Helper()
	var k, p string
	switch pub := signer.Public().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		k, p = "rsa", base64.StdEncoding.EncodeToString(der)
	case ed25519.PublicKey:
		k, p = "ed25519", base64.StdEncoding.EncodeToString(pub)
	}
	return txtStrings("v=DKIM1; k=" + k + "; p=" + p)
}

// txtStrings writes s as the character-strings of one TXT record.
func txtStrings(s string) string {
	var parts []string
	for len(s) > 200 {
		parts = append(parts, `"`+s[:200]+`"`)
		s = s[200:]
	}
	return strings.Join(append(parts, `"`+s+`"`), " ")
}

// baseZone is the DNS of the tests' sender domains. Keys are added by
// zoneWithKeys.
const baseZone = `
example.com.          3600 IN SOA ns.example.com. hostmaster.example.com. 1 3600 600 86400 300
example.com.               IN TXT "v=spf1 ip4:192.0.2.1 -all"
mail.example.com.          IN TXT "v=spf1 ip4:192.0.2.2 -all"
helo.example.com.          IN TXT "v=spf1 ip4:192.0.2.3 -all"
lo.example.com.            IN TXT "v=spf1 ip4:127.0.0.1 -all"
soft.example.com.          IN TXT "v=spf1 ~all"
neutral.example.com.       IN TXT "v=spf1 ?all"
twospf.example.com.        IN TXT "v=spf1 +all"
twospf.example.com.        IN TXT "v=spf1 -all"
badspf.example.com.        IN TXT "v=spf1 ip4:192.0.2.1 bogus -all"
inc.example.com.           IN TXT "v=spf1 include:broken.example.com -all"
broken.example.com.        IN TXT "v=spf1 ip4:192.0.2.9 -all"
_dmarc.example.com.        IN TXT "v=DMARC1; p=reject; sp=quarantine"
_dmarc.strict.example.com. IN TXT "v=DMARC1; p=reject; adkim=s; aspf=s"
strict.example.com.        IN TXT "v=spf1 ip4:192.0.2.4 -all"
_dmarc.own.example.com.    IN TXT "v=DMARC1; p=none"

example.org.          3600 IN SOA ns.example.org. hostmaster.example.org. 1 3600 600 86400 300
example.org.               IN TXT "v=spf1 ip4:198.51.100.1 -all"
_dmarc.example.org.        IN TXT "v=DMARC1; p=quarantine"

example.net.          3600 IN SOA ns.example.net. hostmaster.example.net. 1 3600 600 86400 300
example.net.               IN TXT "v=spf1 ip4:203.0.113.1 -all"
_dmarc.example.net.        IN TXT "v=DMARC1; p=none"

two.test.          3600 IN SOA ns.two.test. hostmaster.two.test. 1 3600 600 86400 300
_dmarc.two.test.        IN TXT "v=DMARC1; p=reject"
_dmarc.two.test.        IN TXT "v=DMARC1; p=none"
_dmarc.invalid.test.    IN TXT "v=DMARC1; p=bogus"
_dmarc.caps.test.       IN TXT "v=DMARC1; P=Reject; ADKIM=S"
_dmarc.pct.test.        IN TXT "v=DMARC1; p=reject; pct=50"
_dmarc.pctq.test.       IN TXT "v=DMARC1; p=quarantine; pct=0"
_dmarc.other.test.      IN TXT "v=spf1 -all"
_dmarc.other.test.      IN TXT "some verification token"

; The victims of issue 10's attacks: p=reject, spelled in A-labels.
victim.example.               3600 IN SOA ns.victim.example. hostmaster.victim.example. 1 3600 600 86400 300
victim.example.                    IN TXT "v=spf1 ip4:192.0.2.77 -all"
_dmarc.victim.example.             IN TXT "v=DMARC1; p=reject"
kx.example.                   3600 IN SOA ns.kx.example. hostmaster.kx.example. 1 3600 600 86400 300
_dmarc.kx.example.                 IN TXT "v=DMARC1; p=reject"
xn--bcher-kva.example.        3600 IN SOA ns.xn--bcher-kva.example. hostmaster.xn--bcher-kva.example. 1 3600 600 86400 300
xn--bcher-kva.example.             IN TXT "v=spf1 ip4:127.0.0.1 ip4:192.0.2.5 -all"
helo.xn--bcher-kva.example.        IN TXT "v=spf1 ip4:192.0.2.6 -all"
_dmarc.xn--bcher-kva.example.      IN TXT "v=DMARC1; p=reject; adkim=s; aspf=s"
; ok.example sends from loopback, with SPF and DKIM: every check passes.
ok.example.                   3600 IN SOA ns.ok.example. hostmaster.ok.example. 1 3600 600 86400 300
ok.example.                        IN TXT "v=spf1 ip4:127.0.0.1 -all"
_dmarc.ok.example.                 IN TXT "v=DMARC1; p=reject"
; The attacker's own domain passes SPF from loopback and signs its mail.
attacker.example.                  IN TXT "v=spf1 ip4:127.0.0.1 -all"
`

// testZone is baseZone with the RSA key at sel._domainkey and the Ed25519
// key at ed._domainkey of example.com, mail.example.com, example.org,
// example.net, strict.example.com, victim.example, xn--bcher-kva.example,
// ok.example and attacker.example.
func testZone(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(baseZone)
	for _, d := range []string{"example.com", "mail.example.com", "example.org", "example.net", "strict.example.com",
		"victim.example", "xn--bcher-kva.example", "ok.example", "attacker.example"} {
		fmt.Fprintf(&b, "sel._domainkey.%s. IN TXT %s\n", d, keyRecord(t, rsaKey()))
		fmt.Fprintf(&b, "ed._domainkey.%s. IN TXT %s\n", d, keyRecord(t, edKey()))
	}
	b.WriteString("revoked._domainkey.example.com. IN TXT \"v=DKIM1; k=rsa; p=\"\n")
	return b.String()
}

// newChecker starts a dnstest server with testZone and returns it and a
// Checker that asks it, with short timeouts and the test clock.
func newChecker(t testing.TB) (*Checker, *dnstest.Server) {
	t.Helper()
	srv := dnstest.NewServer(t, testZone(t))
	c := &Checker{
		Resolver: &dnsx.Client{Nameserver: srv.Addr, Timeout: time.Second, Attempts: 1},
		Timeout:  5 * time.Second,
		Logger:   slog.New(slog.DiscardHandler),
		Now:      func() time.Time { return testNow },
		Rand:     func(int) int { panic("Rand called where no pct= applies") },
	}
	return c, srv
}

// testMessage is a message from alice@<fromDomain>, CRLF-terminated.
func testMessage(from string) string {
	return "From: Alice <" + from + ">\r\n" +
		"To: bob@ownmx.test\r\n" +
		"Subject: Lunch\r\n" +
		"Date: Sun, 1 Mar 2026 12:00:00 +0000\r\n" +
		"Message-ID: <1@example.com>\r\n" +
		"\r\n" +
		"Shall we meet at noon?\r\n" +
		".. a line that started with a dot\r\n"
}

// sign returns msg with a DKIM-Signature by domain and selector made with
// the key for the selector ("sel": RSA, "ed": Ed25519, anything else:
// RSA). opts may adjust the signature before it is made.
func sign(t testing.TB, msg, domain, selector string, opts ...func(*dkim.SignOptions)) string {
	t.Helper()
	var signer crypto.Signer = rsaKey()
	if selector == "ed" {
		signer = edKey()
	}
	o := &dkim.SignOptions{
		Domain:                 domain,
		Selector:               selector,
		Signer:                 signer,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
	}
	for _, f := range opts {
		f(o)
	}
	var b bytes.Buffer
	if err := dkim.Sign(&b, strings.NewReader(msg), o); err != nil {
		t.Fatalf("signing for %s: %v", domain, err)
	}
	return b.String()
}

var (
	ip1 = netip.MustParseAddr("192.0.2.1")     // example.com's SPF
	ip2 = netip.MustParseAddr("192.0.2.2")     // mail.example.com's SPF
	ip4 = netip.MustParseAddr("192.0.2.4")     // strict.example.com's SPF
	ipO = netip.MustParseAddr("198.51.100.1")  // example.org's SPF
	ipX = netip.MustParseAddr("203.0.113.250") // nobody's
)

// readAll reads r or fails the test.
func readAll(t testing.TB, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
