package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ownmx/ownmx/dnsx/dnstest"
	"github.com/ownmx/ownmx/mtasts"
)

// policyServer serves h over HTTPS on 127.0.0.1, with httptest's
// certificate, valid for *.example.com, and returns a client that trusts
// it and reaches it whatever host a URL names, as if mta-sts.example.com
// resolved to it.
func policyServer(t *testing.T, h http.Handler) *http.Client {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	tr.DialTLSContext = nil
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// policy is a policy for example.com, parsed from text.
func policy(t *testing.T, text string) *mtasts.Policy {
	t.Helper()
	p, err := mtasts.Parse(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// stsZone is correct.zone with the given lines added.
func stsZone(t *testing.T, lines ...string) string {
	t.Helper()
	zone, err := os.ReadFile(filepath.Join("testdata", "correct.zone"))
	if err != nil {
		t.Fatal(err)
	}
	return string(zone) + "$ORIGIN example.com.\n" + strings.Join(lines, "\n") + "\n"
}

// stsRecord is the zone line of the "_mta-sts" record announcing p.
func stsRecord(t *testing.T, p *mtasts.Policy) string {
	t.Helper()
	txt, err := mtasts.RecordText(p)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("_mta-sts 3600 IN TXT %q", txt)
}

const (
	enforcePolicy = "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 1209600\n"
	tlsrptLine    = `_smtp._tls 3600 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@example.com"`
)

// TestMTASTS checks -mta-sts and -tls-rpt against records served by
// dnstest and a policy served over HTTPS on loopback by mtasts.Handler:
// the findings a user reads and, when something is missing, the records
// to publish.
func TestMTASTS(t *testing.T) {
	good := policy(t, enforcePolicy)
	for _, tc := range []struct {
		name   string
		zone   []string // lines added to correct.zone; "sts" is the record of served
		served string   // the policy served; "" for 404
		flags  []string
		status int
		want   []string // lines the output holds
		golden string
	}{
		{"all good", []string{"sts", tlsrptLine}, enforcePolicy, nil, exitOK,
			[]string{"[ok]      mta-sts the policy of example.com (id ", "has mode enforce", "[ok]      tls-rpt TLS-RPT record at _smtp._tls.example.com"},
			"sts-correct.txt"},
		{"nothing published", nil, "", nil, exitOK,
			[]string{"[warning] mta-sts no MTA-STS record at _mta-sts.example.com", "[warning] tls-rpt no TLS-RPT record",
				"; MTA-STS and TLS-RPT records to publish", "mode: testing"},
			"sts-missing.txt"},
		{"nothing published, enforce", nil, "", []string{"-mta-sts-mode", "enforce", "-tls-rpt-rua", "https://reports.example.com/tlsrpt"}, exitOK,
			[]string{"mode: enforce", `_smtp._tls.example.com. 3600 IN TXT "v=TLSRPTv1; rua=https://reports.example.com/tlsrpt"`}, ""},
		{"MX not covered", []string{"sts", tlsrptLine}, "version: STSv1\nmode: enforce\nmx: mx.example.net\nmax_age: 1209600\n", nil, exitProblem,
			[]string{"[problem] mta-sts MX host mx.example.com matches no mx line of the policy", `add "mx: mx.example.com" to the policy`}, ""},
		{"MX covered by a wildcard", []string{"sts", tlsrptLine}, "version: STSv1\nmode: enforce\nmx: *.example.com\nmax_age: 1209600\n", nil, exitOK,
			[]string{"has mode enforce"}, ""},
		{"testing mode", []string{"sts", tlsrptLine}, "version: STSv1\nmode: testing\nmx: mx.example.com\nmax_age: 1209600\n", nil, exitOK,
			[]string{"[ok]      mta-sts the policy of example.com", "has mode testing"}, ""},
		{"short max_age", []string{"sts", tlsrptLine}, "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 3600\n", nil, exitOK,
			[]string{"[warning] mta-sts the policy's max_age is 3600 seconds", "; MTA-STS and TLS-RPT records to publish"}, ""},
		{"policy not served", []string{"sts", tlsrptLine}, "", nil, exitProblem,
			[]string{"[problem] mta-sts the policy of example.com could not be fetched", "404"}, ""},
		{"invalid TLS-RPT record", []string{"sts", `_smtp._tls 3600 IN TXT "v=TLSRPTv1; rua=http://example.com/r"`}, enforcePolicy, nil, exitProblem,
			[]string{"[problem] tls-rpt TLS-RPT record", "is not a mailto: or https: URI"}, ""},
		{"only -tls-rpt", nil, "", []string{"-only-tls-rpt"}, exitOK,
			[]string{"[warning] tls-rpt no TLS-RPT record", `_smtp._tls.example.com. 3600 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@example.com"`}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			served := good
			if tc.served != "" {
				served = policy(t, tc.served)
			}
			var lines []string
			for _, l := range tc.zone {
				if l == "sts" {
					l = stsRecord(t, served)
				}
				lines = append(lines, l)
			}
			srv := dnstest.NewServer(t, stsZone(t, lines...))
			var h http.Handler = http.NotFoundHandler()
			if tc.served != "" {
				var err error
				if h, err = mtasts.Handler(served); err != nil {
					t.Fatal(err)
				}
			}
			client := policyServer(t, h)

			args := append([]string{"-dns", srv.Addr}, baseArgs...)
			if len(tc.flags) == 1 && tc.flags[0] == "-only-tls-rpt" {
				args = append(args, "-tls-rpt")
			} else {
				args = append(append(args, "-mta-sts", "-tls-rpt"), tc.flags...)
			}
			var stdout, stderr bytes.Buffer
			if got := runWith(t.Context(), args, &stdout, &stderr, client); got != tc.status {
				t.Errorf("exit status %d, want %d; stderr: %s", got, tc.status, &stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("output does not say %q:\n%s", w, &stdout)
				}
			}
			if tc.flags != nil && tc.flags[0] == "-only-tls-rpt" && strings.Contains(stdout.String(), "mta-sts") {
				t.Errorf("-tls-rpt alone checks or prints MTA-STS:\n%s", &stdout)
			}
			if tc.golden != "" {
				golden(t, tc.golden, stdout.Bytes())
			}
		})
	}
}

// TestMTASTSRecordsWork publishes what dnscheck prints for a domain with
// nothing, serves the printed policy, and checks again: all ok.
func TestMTASTSRecordsWork(t *testing.T) {
	srv := dnstest.NewServer(t, stsZone(t))
	var stdout, stderr bytes.Buffer
	args := append([]string{"-dns", srv.Addr, "-mta-sts", "-tls-rpt", "-mta-sts-mode", "enforce"}, baseArgs...)
	runWith(t.Context(), args, &stdout, &stderr, policyServer(t, http.NotFoundHandler()))
	_, printed, ok := strings.Cut(stdout.String(), "; MTA-STS and TLS-RPT records to publish\n")
	if !ok {
		t.Fatalf("no records printed:\n%s", &stdout)
	}
	zoneLines, rest, _ := strings.Cut(printed, "\n\n")
	_, policyText, ok := strings.Cut(rest, "/.well-known/mta-sts.txt (examples/inbox serves it)\n")
	if !ok {
		t.Fatalf("no policy printed:\n%s", printed)
	}
	p := policy(t, policyText)
	h, err := mtasts.Handler(p)
	if err != nil {
		t.Fatal(err)
	}
	srv2 := dnstest.NewServer(t, stsZone(t)+zoneLines+"\n")
	stdout.Reset()
	args[1] = srv2.Addr
	if got := runWith(t.Context(), args, &stdout, &stderr, policyServer(t, h)); got != exitOK ||
		strings.Contains(stdout.String(), "[warning]") || strings.Contains(stdout.String(), "[problem]") {
		t.Errorf("with the printed records published: status %d\n%s", got, &stdout)
	}
}

// -records with -mta-sts and -tls-rpt prints their records with the
// others, asking nothing.
func TestRecordsMTASTS(t *testing.T) {
	args := append(recordArgs(), "-mta-sts", "-tls-rpt")
	var stdout, stderr bytes.Buffer
	if got := run(t.Context(), args, &stdout, &stderr); got != exitOK {
		t.Fatalf("exit status %d; stderr: %s", got, &stderr)
	}
	golden(t, "records-sts.txt", stdout.Bytes())
}

// A failed lookup of the new records stops the check as for the others.
func TestMTASTSDNSFailure(t *testing.T) {
	for _, name := range []string{"_mta-sts.example.com.", "_smtp._tls.example.com."} {
		srv := dnstest.NewServer(t, stsZone(t, tlsrptLine))
		srv.ServFail(name)
		args := append([]string{"-dns", srv.Addr, "-mta-sts", "-tls-rpt", "-timeout", "2s"}, baseArgs...)
		var stdout, stderr bytes.Buffer
		if got := runWith(t.Context(), args, &stdout, &stderr, policyServer(t, http.NotFoundHandler())); got != exitUsage ||
			!strings.Contains(stderr.String(), "DNS could not be asked") || !strings.Contains(stderr.String(), strings.TrimSuffix(name, ".")) {
			t.Errorf("SERVFAIL for %s: status %d, stderr %q", name, got, &stderr)
		}
	}
}

func TestMTASTSUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-mta-sts", "-mta-sts-mode", "none"}, `-mta-sts-mode "none" is not testing or enforce`},
		{[]string{"-tls-rpt", "-tls-rpt-rua", "ftp://example.com"}, `-tls-rpt-rua "ftp://example.com"`},
	} {
		var stdout, stderr bytes.Buffer
		if got := run(t.Context(), append(recordArgs(), tc.args...), &stdout, &stderr); got != exitUsage || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%q: status %d, stderr %q; want 2 and %q", tc.args, got, &stderr, tc.want)
		}
	}
}
