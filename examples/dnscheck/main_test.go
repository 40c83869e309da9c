package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/ownmx/ownmx/dnsx/dnstest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestMain fails the run if a test leaves a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// baseArgs are the flags every report test passes, besides -dns.
var baseArgs = []string{"-domain", "example.com", "-mx", "mx.example.com", "-ip", "192.0.2.25,2001:db8::25", "-dkim", "mail"}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// Each zone under testdata/ is served by a dnstest server and checked; the
// human and JSON outputs are compared with <zone>.txt and <zone>.json.
func TestReports(t *testing.T) {
	tests := []struct {
		zone   string
		status int
		checks []string // "check severity" of each non-ok finding
	}{
		{"correct", exitOK, nil},
		{"warnings", exitOK, []string{"spf warning", "dmarc warning"}},
		{"mx-cname", exitProblem, []string{"mx problem"}},
		{"null-mx", exitProblem, []string{"mx problem"}},
		{"two-spf", exitProblem, []string{"spf problem", "dkim problem"}},
		{"proxied", exitProblem, []string{"a problem", "ptr warning", "ptr warning"}},
	}
	for _, tt := range tests {
		t.Run(tt.zone, func(t *testing.T) {
			zone, err := os.ReadFile(filepath.Join("testdata", tt.zone+".zone"))
			if err != nil {
				t.Fatal(err)
			}
			srv := dnstest.NewServer(t, string(zone))
			args := append([]string{"-dns", srv.Addr}, baseArgs...)

			var stdout, stderr bytes.Buffer
			if got := run(t.Context(), args, &stdout, &stderr); got != tt.status {
				t.Errorf("exit status %d, want %d; stderr: %s", got, tt.status, &stderr)
			}
			if stderr.Len() > 0 {
				t.Errorf("stderr: %s", &stderr)
			}
			golden(t, tt.zone+".txt", stdout.Bytes())

			stdout.Reset()
			if got := run(t.Context(), append(args, "-json"), &stdout, &stderr); got != tt.status {
				t.Errorf("-json: exit status %d, want %d; stderr: %s", got, tt.status, &stderr)
			}
			golden(t, tt.zone+".json", stdout.Bytes())

			// The JSON keeps the shape scripts rely on.
			var rep struct {
				Domain   *string `json:"domain"`
				OK       *bool   `json:"ok"`
				Findings []map[string]string
			}
			if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
				t.Fatal(err)
			}
			if rep.Domain == nil || *rep.Domain != "example.com" || rep.OK == nil || *rep.OK != (tt.status == exitOK) {
				t.Errorf("domain/ok keys wrong: %s", &stdout)
			}
			var bad []string
			for _, f := range rep.Findings {
				for _, k := range []string{"check", "severity", "message", "fix"} {
					if _, ok := f[k]; !ok {
						t.Errorf("finding %v has no %q key", f, k)
					}
				}
				if f["severity"] != "ok" {
					bad = append(bad, f["check"]+" "+f["severity"])
				}
			}
			if !slices.Equal(bad, tt.checks) {
				t.Errorf("findings not ok: %v, want %v", bad, tt.checks)
			}
		})
	}
}

// -records prints what to publish without asking DNS, and exits 0.
func TestRecords(t *testing.T) {
	for _, tt := range []struct{ golden, flag string }{
		{"records.txt", ""},
		{"records.json", "-json"},
	} {
		args := []string{"-records", "-domain", "example.com", "-mx", "mx.example.com", "-ip", "203.0.113.25,2001:db8::25",
			"-dns", "192.0.2.1:53"} // never asked: a test reaching it would hang
		if tt.flag != "" {
			args = append(args, tt.flag)
		}
		var stdout, stderr bytes.Buffer
		if got := run(t.Context(), args, &stdout, &stderr); got != exitOK {
			t.Errorf("exit status %d, want 0; stderr: %s", got, &stderr)
		}
		golden(t, tt.golden, stdout.Bytes())
	}
}

// When DNS cannot be asked the status is 2 and the message says which
// lookup failed and how; nothing is printed as a finding.
func TestDNSFailure(t *testing.T) {
	zone, err := os.ReadFile(filepath.Join("testdata", "correct.zone"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, fail string
		timeout    bool
		want       []string
	}{
		{"servfail", "example.com", false, []string{"DNS could not be asked", "lookup example.com", "SERVFAIL"}},
		{"timeout", "_dmarc.example.com", true, []string{"DNS could not be asked", "lookup _dmarc.example.com", "timeout"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := dnstest.NewServer(t, string(zone))
			if tt.timeout {
				srv.Timeout(tt.fail)
			} else {
				srv.ServFail(tt.fail)
			}
			args := append([]string{"-dns", srv.Addr, "-timeout", "100ms"}, baseArgs...)
			var stdout, stderr bytes.Buffer
			if got := run(t.Context(), args, &stdout, &stderr); got != exitUsage {
				t.Errorf("exit status %d, want 2", got)
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout: %s", &stdout)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q does not say %q", &stderr, w)
				}
			}
		})
	}
}

func TestUsage(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no domain", []string{"-mx", "mx.example.com", "-ip", "192.0.2.25"}, "-domain is required"},
		{"no mx", []string{"-domain", "example.com", "-ip", "192.0.2.25"}, "-mx is required"},
		{"no ip", []string{"-domain", "example.com", "-mx", "mx.example.com"}, "-ip is required"},
		{"bad ip", []string{"-domain", "example.com", "-mx", "mx.example.com", "-ip", "192.0.2.25,nope"}, `"nope" is not an IP address`},
		{"unknown flag", []string{"-domain", "example.com", "-bogus"}, "bogus"},
		{"extra argument", []string{"-domain", "example.com", "-mx", "m.example.com", "-ip", "192.0.2.1", "more"}, `unexpected argument "more"`},
		{"bad domain", []string{"-domain", "exa mple.com", "-mx", "mx.example.com", "-ip", "192.0.2.1", "-dns", "192.0.2.1:53"}, "not a domain name"},
		{"bad timeout", []string{"-domain", "example.com", "-mx", "mx.example.com", "-ip", "192.0.2.1", "-timeout", "0s"}, "not positive"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if got := run(t.Context(), tt.args, &stdout, &stderr); got != exitUsage {
				t.Errorf("exit status %d, want 2", got)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr %q does not say %q", &stderr, tt.want)
			}
		})
	}
	var stdout, stderr bytes.Buffer
	if got := run(t.Context(), []string{"-h"}, &stdout, &stderr); got != exitOK || !strings.Contains(stderr.String(), "-domain") {
		t.Errorf("-h: status %d, stderr %q; want 0 and the flags", got, &stderr)
	}
}
