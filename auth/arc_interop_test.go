package auth

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ownmx/ownmx/dnsx/dnstest"
	"github.com/ownmx/ownmx/internal/dkimpy"
)

// The ARC tests run dkimpy (Debian python3-dkim 1.1.4, installed by
// .ci/run), an independent implementation, against ours: arcsign makes
// chains that Checker.ARC validates and Sealer.Seal extends, and arcverify
// judges what Sealer.Seal makes. /usr/bin/python3 is named: a python3
// found first on PATH may not have the modules.
const systemPython = "/usr/bin/python3"

// needDkimpy fails the test when dkimpy cannot run: .ci/run installs it.
func needDkimpy(t *testing.T) {
	t.Helper()
	err := exec.Command(systemPython, "-c", "import dkim.arcverify, dkim.arcsign, authres, dns.resolver").Run()
	if err != nil {
		t.Fatalf("dkimpy cannot run (%v): .ci/run installs python3-dkim and python3-authres", err)
	}
}

// arcverify returns what dkimpy's arcverify prints for msg, with DNS from
// srv: "arc verification: cv=b'pass' success" for a valid chain.
func arcverify(t *testing.T, srv *dnstest.Server, msg string) string {
	t.Helper()
	return dkimpy.Verify(t, "arcverify", srv.Addr, []byte(msg))
}

// arcverifyBatchScript reads messages, one base64 line each, and prints
// for each what arcverify prints, calling the function it calls
// (dkim.arc_verify), with DNS from the test's server: one Python start for
// many messages.
const arcverifyBatchScript = `import sys, base64, dns.resolver as r
res = r.Resolver(configure=False)
res.nameservers = ['127.0.0.1']
res.port = int(sys.argv[1])
r.default_resolver = res
import dkim
for line in sys.stdin:
    try:
        cv, results, comment = dkim.arc_verify(base64.b64decode(line))
        print("arc verification: cv=%s %s" % (cv, comment))
    except Exception as e:
        print("exception: %s: %s" % (type(e).__name__, e))
    sys.stdout.flush()
`

// arcverifyAll returns what arcverify says of each of msgs, with DNS from
// srv.
func arcverifyAll(t *testing.T, srv *dnstest.Server, msgs []string) []string {
	t.Helper()
	_, port, err := net.SplitHostPort(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	var in strings.Builder
	for _, m := range msgs {
		in.WriteString(base64.StdEncoding.EncodeToString([]byte(m)) + "\n")
	}
	cmd := exec.CommandContext(t.Context(), systemPython, "-c", arcverifyBatchScript, port)
	cmd.Stdin = strings.NewReader(in.String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("arcverify: %v: %s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(msgs) {
		t.Fatalf("arcverify answered %d of %d messages:\n%s\n%s", len(lines), len(msgs), out, stderr.String())
	}
	return lines
}

// arcsign returns msg with a new ARC set made by dkimpy's arcsign for
// domain with selector "sel" (the RSA key of testZone) and srvID, which an
// Authentication-Results field of msg must name: arcsign takes that
// field's results, and arc= among them as the chain's status.
func arcsign(t *testing.T, msg, domain, srvID string) string {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "rsa.pem")
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey())})
	if err := os.WriteFile(keyFile, pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), systemPython, "/usr/bin/arcsign", "sel", domain, keyFile, srvID)
	cmd.Stdin = strings.NewReader(msg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("arcsign: %v: %s", err, stderr.String())
	}
	if !bytes.HasPrefix(out, []byte("ARC-Seal:")) || !bytes.HasSuffix(out, []byte(msg)) {
		t.Fatalf("arcsign did not prepend an ARC set:\n%s\nstderr: %s", out, stderr.String())
	}
	return string(out)
}

// checkAuthresSyntax fails the test unless python3-authres, a strict RFC
// 8601 parser (the one arcsign uses), reads payload as the value of an
// Authentication-Results field.
func checkAuthresSyntax(t *testing.T, payload string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), systemPython, "-c",
		"import sys, authres; print(authres.AuthenticationResultsHeader.parse('Authentication-Results: ' + sys.stdin.read()))")
	cmd.Stdin = strings.NewReader(payload)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python3-authres does not read the ARC-Authentication-Results payload %q: %v\n%s", payload, err, out)
	}
}

// TestARCInteropSealNoChain covers item 1 of issue 14: a message that
// arrives without a chain, sealed by Sealer, passes dkimpy's arcverify
// (RSA-2048), and its ARC-Authentication-Results is RFC 8601 to
// python3-authres. dkimpy 1.1.4 verifies ARC with rsa-sha256 only: an
// Ed25519 set, which Checker.ARC validates, is "unknown signature
// algorithm" to it.
func TestARCInteropSealNoChain(t *testing.T) {
	needDkimpy(t)
	c, srv := newARCChecker(t)
	msg := arcTestMessage(t)
	res, err := c.Check(t.Context(), SPFResult{Result: Pass, Domain: "example.com", MailFrom: "alice@example.com"}, strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ selector, dkimpy string }{
		{"sel", "arc verification: cv=b'pass' success"},
		{"ed", "arc verification: cv=b'fail' unknown signature algorithm: b'ed25519-sha256'"},
	} {
		t.Run(tc.selector, func(t *testing.T) {
			sealed := forward(t, c, testSealer("example.org", tc.selector), msg, res)
			t.Logf("the set Seal adds:\n%s", strings.TrimSuffix(sealed, msg))
			if got := c.ARC(t.Context(), strings.NewReader(sealed)); got != (ARCResult{Result: Pass, Instance: 1}) {
				t.Errorf("Checker.ARC = %+v, want pass at i=1", got)
			}
			out := arcverify(t, srv, sealed)
			t.Logf("arcverify: %s", out)
			if out != tc.dkimpy {
				t.Errorf("arcverify says %q, want %q", out, tc.dkimpy)
			}
			aar := newestSet(t, sealed, 1).aar.text
			_, value, _ := strings.Cut(aar, ";")
			checkAuthresSyntax(t, strings.TrimSpace(value))
		})
	}
}

// TestARCInteropArcsignChain covers item 2 of issue 14: chains made by
// dkimpy's arcsign, of one and two hops, pass Checker.ARC at their
// instance; Seal adds the next set with cv=pass, which arcverify passes;
// arcsign extends our set in turn, and both pass the result. DKIM still
// passes at the end: the sets add only header fields.
func TestARCInteropArcsignChain(t *testing.T) {
	needDkimpy(t)
	c, srv := newARCChecker(t)
	msg := arcTestMessage(t)
	ar := func(id, results string) string { return "Authentication-Results: " + id + "; " + results + "\r\n" }
	res := &Results{SPF: SPFResult{Result: Pass, Domain: "example.net", MailFrom: "list@example.net"},
		DKIM: []DKIMResult{{Result: Pass, Domain: "example.com", Identifier: "@example.com"}}}

	hop1 := arcsign(t, ar("hop1.example", "spf=pass smtp.mailfrom=alice@example.com; dkim=pass header.d=example.com")+msg, "example.net", "hop1.example")
	hop2 := arcsign(t, ar("hop2.example", "arc=pass; dkim=pass header.d=example.com")+hop1, "example.com", "hop2.example")
	for _, tc := range []struct {
		name string
		msg  string
		n    int
	}{{"one hop", hop1, 1}, {"two hops", hop2, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			chain := c.ARC(t.Context(), strings.NewReader(tc.msg))
			if chain != (ARCResult{Result: Pass, Instance: tc.n}) {
				t.Fatalf("Checker.ARC of arcsign's chain = %+v, want pass at i=%d", chain, tc.n)
			}
			if out := arcverify(t, srv, tc.msg); out != "arc verification: cv=b'pass' success" {
				t.Fatalf("arcverify of its own chain: %s", out)
			}
			set, err := testSealer("example.org", "sel").Seal(strings.NewReader(tc.msg), res, chain)
			if err != nil {
				t.Fatal(err)
			}
			sealed := string(set) + tc.msg
			if s := newestSet(t, sealed, tc.n+1); s.seal.tags["cv"] != "pass" {
				t.Errorf("our seal at i=%d says cv=%s, want pass", tc.n+1, s.seal.tags["cv"])
			}
			if got := c.ARC(t.Context(), strings.NewReader(sealed)); got != (ARCResult{Result: Pass, Instance: tc.n + 1}) {
				t.Errorf("Checker.ARC after our seal = %+v, want pass at i=%d", got, tc.n+1)
			}
			if out := arcverify(t, srv, sealed); out != "arc verification: cv=b'pass' success" {
				t.Errorf("arcverify after our seal: %s", out)
			}

			// arcsign on top of our set.
			next := arcsign(t, ar("next.example", "arc=pass")+sealed, "example.net", "next.example")
			if got := c.ARC(t.Context(), strings.NewReader(next)); got != (ARCResult{Result: Pass, Instance: tc.n + 2}) {
				t.Errorf("Checker.ARC after arcsign sealed over our set = %+v, want pass at i=%d", got, tc.n+2)
			}
			if out := arcverify(t, srv, next); out != "arc verification: cv=b'pass' success" {
				t.Errorf("arcverify after arcsign sealed over our set: %s", out)
			}
			dk, err := c.DKIM(t.Context(), strings.NewReader(next))
			if err != nil || len(dk) != 1 || dk[0].Result != Pass || dk[0].Domain != "example.com" {
				t.Errorf("DKIM at the end = %+v, %v; want one pass for example.com", dk, err)
			}

			// The same chain with its body changed: both fail it, and our
			// seal with cv=fail ends it.
			broken := strings.Replace(tc.msg, "noon?", "one?", 1)
			chain = c.ARC(t.Context(), strings.NewReader(broken))
			if chain.Result != Fail || !strings.Contains(chain.Reason, "body hash did not verify") {
				t.Fatalf("Checker.ARC of arcsign's chain with its body changed = %+v, want fail", chain)
			}
			if out := arcverify(t, srv, broken); !strings.Contains(out, "cv=b'fail'") {
				t.Errorf("arcverify of the changed body: %s", out)
			}
			set, err = testSealer("example.org", "sel").Seal(strings.NewReader(broken), res, chain)
			if err != nil {
				t.Fatal(err)
			}
			sealed = string(set) + broken
			if out := arcverify(t, srv, sealed); out != fmt.Sprintf("arc verification: cv=None ARC-Seal[%d] reported failure, the chain is terminated", tc.n+1) {
				t.Errorf("arcverify after our cv=fail seal: %s", out)
			}
		})
	}
}
