package auth

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestInteropDkimsign signs messages with an independent implementation,
// dkimpy's dkimsign (Debian python3-dkim, installed by .ci/run), with the
// keys the zone publishes, and checks that ownmx verifies them.
func TestInteropDkimsign(t *testing.T) {
	tool, err := exec.LookPath("dkimsign")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("dkimsign not installed: .ci/run installs python3-dkim")
		}
		t.Skip("dkimsign not installed (apt-get install python3-dkim)")
	}
	c, _ := newChecker(t)
	dir := t.TempDir()
	rsaFile := filepath.Join(dir, "rsa.pem")
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey())})
	// dkimpy reads an Ed25519 key as the base64 of its 32-byte seed.
	edFile := filepath.Join(dir, "ed25519.key")
	for path, data := range map[string][]byte{
		rsaFile: pemKey,
		edFile:  []byte(base64.StdEncoding.EncodeToString(edKey().Seed()) + "\n"),
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	msg := testMessage("alice@example.com") + "A second paragraph,  with  double spaces \t and a tab.\r\n\r\n\r\n"
	for _, tc := range []struct {
		name string
		args []string
		want Result
	}{
		{"rsa-sha256 relaxed/simple", []string{"sel", "example.com", rsaFile}, Pass},
		{"rsa-sha256 simple/simple", []string{"--hcanon", "simple", "sel", "example.com", rsaFile}, Pass},
		{"rsa-sha256 relaxed/relaxed", []string{"--bcanon", "relaxed", "sel", "example.com", rsaFile}, Pass},
		{"ed25519-sha256 (RFC 8463)", []string{"--signalg", "ed25519-sha256", "ed", "example.com", edFile}, Pass},
		{"rsa-sha1 never passes (RFC 8301 §3.1)", []string{"--signalg", "rsa-sha1", "sel", "example.com", rsaFile}, PermError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), tool, tc.args...)
			cmd.Stdin = strings.NewReader(msg)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("dkimsign %v: %v: %s", tc.args, err, stderr.String())
			}
			if !strings.HasPrefix(string(out), "DKIM-Signature:") || !strings.HasSuffix(string(out), msg) {
				t.Fatalf("dkimsign did not prepend a signature to the message:\n%s", out)
			}
			got, err := c.DKIM(t.Context(), bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Result != tc.want || got[0].Domain != "example.com" {
				t.Fatalf("ownmx verifies the dkimsign signature as %+v, want one %s for example.com", got, tc.want)
			}
			// And the whole check: DKIM alone makes DMARC pass.
			if tc.want == Pass {
				res, err := c.Check(t.Context(), SPFResult{Result: Fail, Domain: "example.com"}, bytes.NewReader(out))
				if err != nil || res.DMARC.Result != Pass || res.Verdict() != Deliver {
					t.Errorf("Check = %+v, %v; want dmarc=pass, deliver", res, err)
				}
			}
		})
	}
}
