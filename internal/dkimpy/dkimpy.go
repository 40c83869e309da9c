// Package dkimpy runs the DKIM and ARC tools of Debian's python3-dkim
// (dkimpy), an implementation independent of ownmx's, for tests: dkimverify
// and arcverify, with their DNS queries sent to a test's own server
// (dnsx/dnstest) rather than the machine's resolver.
package dkimpy

import (
	"bytes"
	"net"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// python is Debian's interpreter, which has the dkim and dns modules; a
// python3 earlier in PATH (pyenv) may not.
const python = "/usr/bin/python3"

// Verify runs tool, "dkimverify" or "arcverify", on msg with DNS from the
// server at dnsAddr (host:port on loopback) and returns what it printed:
// "signature ok" or "signature verification failed" for dkimverify,
// "arc verification: cv=b'pass' success" for arcverify (see ARCPass). The
// test fails when the tool cannot run: .ci/run installs python3-dkim.
func Verify(t testing.TB, tool, dnsAddr string, msg []byte) string {
	t.Helper()
	host, port, err := net.SplitHostPort(dnsAddr)
	if err != nil {
		t.Fatalf("dkimpy: DNS server %q: %v", dnsAddr, err)
	}
	// The tools ask dnspython's default resolver: replace it with one that
	// asks the test's server, then run the tool's own main.
	script := `import sys, dns.resolver as r
res = r.Resolver(configure=False)
res.nameservers = [sys.argv[1]]
res.port = int(sys.argv[2])
r.default_resolver = res
tool = sys.argv[3]
sys.argv = [tool]
main = __import__("dkim." + tool, fromlist=["main"]).main
main()
`
	cmd := exec.Command(python, "-c", script, host, port, tool)
	cmd.Stdin = bytes.NewReader(msg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	text := strings.TrimSpace(string(out))
	if err != nil && text == "" {
		t.Fatalf("%s (Debian python3-dkim, which .ci/run installs): %v: %s", tool, err, stderr.String())
	}
	return text
}

// arcPass matches arcverify's report of a chain that passes: dkimpy 1.1
// prints the status as a Python bytes literal, "cv=b'pass'".
var arcPass = regexp.MustCompile(`^arc verification: cv=(b')?pass\b`)

// ARCPass reports whether arcverify's output out says the chain passes.
func ARCPass(out string) bool { return arcPass.MatchString(out) }
