package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"go.uber.org/goleak"

	"github.com/ownmx/ownmx/auth"
	"github.com/ownmx/ownmx/dnsx"
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
		{"dkim key without selector", append(recordArgs(), "-dkim-key", "testdata/dkim-rsa.pem"), "-dkim-key needs -dkim-selector"},
		{"dkim selector without key", append(recordArgs(), "-dkim-selector", "mail"), "-dkim-selector needs -dkim-key"},
		{"bad dkim selector", append(recordArgs(), "-dkim-key", "testdata/dkim-rsa.pem", "-dkim-selector", "ma il"), `"ma il" is not a selector`},
		{"dkim selector with empty label", append(recordArgs(), "-dkim-key", "testdata/dkim-rsa.pem", "-dkim-selector", "a..b"), "not a selector"},
		{"dkim selector with a leading hyphen", append(recordArgs(), "-dkim-key", "testdata/dkim-rsa.pem", "-dkim-selector", "-mail"), "not a selector"},
		{"no dkim key file", append(recordArgs(), "-dkim-key", "testdata/none.pem", "-dkim-selector", "mail"), "testdata/none.pem: no such file"},
		{"not a key file", append(recordArgs(), "-dkim-key", "testdata/correct.zone", "-dkim-selector", "mail"), "-dkim-key testdata/correct.zone: auth: DKIM key: no PEM data"},
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

// recordArgs are the flags of a -records run for example.com.
func recordArgs() []string {
	return []string{"-records", "-domain", "Example.com", "-mx", "mx.example.com", "-ip", "203.0.113.25",
		"-dns", "192.0.2.1:53"} // never asked: a test reaching it would hang
}

// -records with -dkim-key prints the key's DKIM record with the others.
// Served as printed, the zone-file lines let mail signed with the key
// pass DKIM: the 2048-bit RSA record, longer than one TXT string holds
// (RFC 1035 §3.3), is written as several.
func TestRecordsDKIM(t *testing.T) {
	for _, tt := range []struct{ golden, flag string }{
		{"records-dkim.txt", ""},
		{"records-dkim.json", "-json"},
	} {
		args := append(recordArgs(), "-dkim-key", "testdata/dkim-rsa.pem", "-dkim-selector", "mail")
		if tt.flag != "" {
			args = append(args, tt.flag)
		}
		var stdout, stderr bytes.Buffer
		if got := run(t.Context(), args, &stdout, &stderr); got != exitOK || stderr.Len() > 0 {
			t.Errorf("exit status %d, want 0; stderr: %s", got, &stderr)
		}
		golden(t, tt.golden, stdout.Bytes())
	}

	for _, tt := range []struct{ key, kind string }{{"testdata/dkim-rsa.pem", "k=rsa"}, {"testdata/dkim-ed25519.pem", "k=ed25519"}} {
		t.Run(tt.key, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append(recordArgs(), "-dkim-key", tt.key, "-dkim-selector", "mail")
			if got := run(t.Context(), args, &stdout, &stderr); got != exitOK {
				t.Fatalf("exit status %d, want 0; stderr: %s", got, &stderr)
			}
			// The zone-file lines, as a user pastes them into a zone.
			zoneLines, _, _ := strings.Cut(stdout.String(), "\n\n")
			zone := "example.com. 3600 IN SOA ns.example.com. hostmaster.example.com. 1 7200 900 1209600 300\n" + zoneLines + "\n"
			var dkimLine string
			for _, line := range strings.Split(zoneLines, "\n") {
				if strings.HasPrefix(line, "mail._domainkey.example.com. 3600 IN TXT ") {
					dkimLine = line
				}
				for _, s := range regexp.MustCompile(`"[^"]*"`).FindAllString(line, -1) {
					if len(s)-2 > 255 {
						t.Errorf("a string of %d octets, more than RFC 1035 §3.3 allows: %s", len(s)-2, line)
					}
				}
			}
			if !strings.Contains(dkimLine, `"v=DKIM1; `+tt.kind+`; p=`) {
				t.Fatalf("no DKIM record with %s among the zone-file lines:\n%s", tt.kind, zoneLines)
			}
			srv := dnstest.NewServer(t, zone)

			pemKey, err := os.ReadFile(tt.key)
			if err != nil {
				t.Fatal(err)
			}
			key, err := auth.ParseSigningKey(pemKey)
			if err != nil {
				t.Fatal(err)
			}
			msg := "From: alice@example.com\r\nTo: bob@example.org\r\nSubject: hi\r\n\r\nHello.\r\n"
			var signed bytes.Buffer
			if err := dkim.Sign(&signed, strings.NewReader(msg), &dkim.SignOptions{Domain: "example.com", Selector: "mail", Signer: key}); err != nil {
				t.Fatal(err)
			}
			c := &auth.Checker{Resolver: &dnsx.Client{Nameserver: srv.Addr, Timeout: time.Second, Attempts: 1}}
			res, err := c.DKIM(t.Context(), &signed)
			if err != nil || len(res) != 1 || res[0].Result != auth.Pass {
				t.Errorf("mail signed with %s, checked against the printed records: %+v, %v; want pass", tt.key, res, err)
			}
		})
	}
}

// Without -records, -dkim-selector is checked like the -dkim selectors.
func TestCheckDKIMSelector(t *testing.T) {
	zone, err := os.ReadFile(filepath.Join("testdata", "correct.zone"))
	if err != nil {
		t.Fatal(err)
	}
	srv := dnstest.NewServer(t, string(zone))
	for _, tt := range []struct {
		selector string
		status   int
		want     string
	}{
		{"mail", exitOK, "[ok]      dkim    DKIM key at mail._domainkey.example.com (ed25519)"},
		{"other", exitProblem, "[problem] dkim    "},
	} {
		args := append([]string{"-dns", srv.Addr, "-dkim-key", "testdata/dkim-ed25519.pem", "-dkim-selector", tt.selector}, baseArgs...)
		var stdout, stderr bytes.Buffer
		if got := run(t.Context(), args, &stdout, &stderr); got != tt.status {
			t.Errorf("-dkim-selector %s: exit status %d, want %d; stderr: %s", tt.selector, got, tt.status, &stderr)
		}
		if !strings.Contains(stdout.String(), tt.want) || !strings.Contains(stdout.String(), tt.selector+"._domainkey.example.com") {
			t.Errorf("-dkim-selector %s: output does not say %q for it:\n%s", tt.selector, tt.want, &stdout)
		}
	}
}
