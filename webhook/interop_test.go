package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The npm package standardwebhooks, the Standard Webhooks reference
// library, verifies what Endpoint sends. .ci/run installs Node and the
// package, at the version pinned there, with
//
//	npm install --prefix "${XDG_CACHE_HOME:-$HOME/.cache}/ownmx/node" standardwebhooks@VERSION
//
// and this test finds it there, or in the directory that the environment
// variable OWNMX_NODE_DIR names (the --prefix of such an install).
// Without node or the package the test fails: run .ci/run.

// nodeDir returns the directory whose node_modules holds standardwebhooks.
func nodeDir(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("OWNMX_NODE_DIR"); dir != "" {
		return dir
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatalf("no cache directory to find standardwebhooks in (%v): set OWNMX_NODE_DIR, or run .ci/run", err)
	}
	return filepath.Join(cache, "ownmx", "node")
}

// nodeCase is one webhook for verify.js.
type nodeCase struct {
	Secret  string            `json:"secret"`
	Headers map[string]string `json:"headers"`
	Body    []byte            `json:"body"`
}

// nodeVerify runs testdata/verify.js over cases and returns its verdicts.
func nodeVerify(t *testing.T, cases []nodeCase) []string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed: run .ci/run, which installs it (%v)", err)
	}
	dir := nodeDir(t)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "standardwebhooks", "package.json")); err != nil {
		t.Fatalf("the npm package standardwebhooks is not in %s: run .ci/run, which installs it (%v)", dir, err)
	}
	input, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), node, filepath.Join("testdata", "verify.js"))
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node testdata/verify.js: %v\n%s", err, stderr.Bytes())
	}
	var verdicts []string
	if err := json.Unmarshal(out, &verdicts); err != nil || len(verdicts) != len(cases) {
		t.Fatalf("node testdata/verify.js said %q (%v)", out, err)
	}
	return verdicts
}

// TestReferenceVerifier: the reference library accepts what Endpoint sends,
// in both formats and with each secret of a rotation, and rejects a body
// changed by one byte and a wrong secret. Go's Verify agrees on each.
func TestReferenceVerifier(t *testing.T) {
	rc := newReceiver(t, status(http.StatusOK))
	for _, format := range []Format{JSON, RFC822} {
		e := newEndpoint(t, rc.URL)
		e.Now = nil // the machine's clock, which the library checks against
		e.Format = format
		e.Secrets = []string{testSecret, oldSecret}
		if err := e.Run(t.Context(), newMessage(testRaw), testAttempt()); err != nil {
			t.Fatalf("Run: %v", err)
		}
	}
	type check struct {
		name   string
		c      nodeCase
		accept bool
	}
	var checks []check
	for i, r := range rc.got() {
		headers := map[string]string{}
		for _, name := range []string{HeaderID, HeaderTimestamp, HeaderSignature} {
			headers[name] = r.header.Get(name)
		}
		tampered := bytes.Clone(r.body)
		tampered[len(tampered)/2] ^= 0x20
		format := []string{"json", "rfc822"}[i]
		checks = append(checks,
			check{format + ", the new secret", nodeCase{testSecret, headers, r.body}, true},
			check{format + ", the old secret", nodeCase{oldSecret, headers, r.body}, true},
			check{format + ", a tampered body", nodeCase{testSecret, headers, tampered}, false},
			check{format + ", a wrong secret", nodeCase{NewSecret(), headers, r.body}, false},
		)
	}
	cases := make([]nodeCase, len(checks))
	for i, c := range checks {
		cases[i] = c.c
	}
	verdicts := nodeVerify(t, cases)
	for i, c := range checks {
		if accepted := verdicts[i] == "ok"; accepted != c.accept {
			t.Errorf("%s: the reference library says %q, want accepted %v", c.name, verdicts[i], c.accept)
		}
		if !c.accept && !strings.Contains(verdicts[i], "No matching signature") {
			t.Errorf("%s: rejected for another reason: %q", c.name, verdicts[i])
		}
		h := http.Header{}
		for k, v := range c.c.Headers {
			h.Set(k, v)
		}
		if err := Verify(h, c.c.Body, c.c.Secret); (err == nil) != c.accept {
			t.Errorf("%s: Verify says %v, want accepted %v", c.name, err, c.accept)
		}
	}
}
