package mtasts_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ownmx/ownmx/dnsx"
	"github.com/ownmx/ownmx/mtasts"
)

const (
	enforcePolicy = "version: STSv1\nmode: enforce\nmx: mx.dest.test\nmax_age: 1209600\n"
	tlsrptRecord  = `_smtp._tls.dest IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@dest.test"`
)

// TestCheckDomain checks each finding a user of CheckDomain would see.
func TestCheckDomain(t *testing.T) {
	for _, tc := range []struct {
		name    string
		records []string
		policy  string
		mx      []string
		want    []string // "check severity substring of the message"
	}{
		{"all good", []string{stsRecord("dest", "1"), tlsrptRecord}, enforcePolicy, []string{"mx.dest.test."},
			[]string{"mta-sts ok mode enforce", "tls-rpt ok TLS-RPT record"}},
		{"no records", nil, "", []string{"mx.dest.test"},
			[]string{"mta-sts warning no MTA-STS record", "tls-rpt warning no TLS-RPT record"}},
		{"two sts records", []string{stsRecord("dest", "1"), stsRecord("dest", "2"), tlsrptRecord}, enforcePolicy, nil,
			[]string{"mta-sts problem 2 MTA-STS records", "tls-rpt ok"}},
		{"bad sts record", []string{`_mta-sts.dest IN TXT "v=STSv1; id=no-dashes"`, tlsrptRecord}, enforcePolicy, nil,
			[]string{"mta-sts problem is invalid", "tls-rpt ok"}},
		{"policy not served", []string{stsRecord("dest", "1"), tlsrptRecord}, "", nil,
			[]string{"mta-sts problem could not be fetched", "tls-rpt ok"}},
		{"policy unreadable", []string{stsRecord("dest", "1"), tlsrptRecord}, "version: STSv2\n", nil,
			[]string{"mta-sts problem could not be fetched", "tls-rpt ok"}},
		{"mode none", []string{stsRecord("dest", "1"), tlsrptRecord}, "version: STSv1\nmode: none\nmax_age: 1209600\n", nil,
			[]string{"mta-sts warning mode none", "tls-rpt ok"}},
		{"mode testing, MX not covered", []string{stsRecord("dest", "1"), tlsrptRecord},
			"version: STSv1\nmode: testing\nmx: *.dest.test\nmax_age: 1209600\n", []string{"mx1.dest.test", "mx.other.test"},
			[]string{"mta-sts ok move to enforce", "mta-sts warning mx.other.test matches no mx line", "tls-rpt ok"}},
		{"enforce, MX not covered", []string{stsRecord("dest", "1"), tlsrptRecord}, enforcePolicy, []string{"mx.dest.test", "backup.dest.test"},
			[]string{"mta-sts ok mode enforce", "mta-sts problem backup.dest.test matches no mx line", "tls-rpt ok"}},
		{"short max_age", []string{stsRecord("dest", "1"), tlsrptRecord}, "version: STSv1\nmode: enforce\nmx: mx.dest.test\nmax_age: 3600\n", []string{"mx.dest.test"},
			[]string{"mta-sts ok mode enforce", "mta-sts warning 3600 seconds, under a day", "tls-rpt ok"}},
		{"two tls-rpt records", []string{stsRecord("dest", "1"), tlsrptRecord, `_smtp._tls.dest IN TXT "v=TLSRPTv1; rua=mailto:b@dest.test"`}, enforcePolicy, nil,
			[]string{"mta-sts ok", "tls-rpt problem 2 TLS-RPT records"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, zone(tc.records...), "dest.test")
			w.site.set("dest.test", tc.policy)
			got, err := mtasts.CheckDomain(t.Context(), w.f, "dest.test", tc.mx)
			if err != nil {
				t.Fatal(err)
			}
			wantFindings(t, got, tc.want)
		})
	}
}

// TestCheckDomainTLSRPTSyntax checks the TLS-RPT records CheckDomain
// calls invalid, and those it accepts.
func TestCheckDomainTLSRPTSyntax(t *testing.T) {
	for txt, sev := range map[string]string{
		"v=TLSRPTv1; rua=mailto:a@dest.test":                       "ok",
		"v=TLSRPTv1;rua=https://r.dest.test/x,mailto:a@dest.test;": "ok",
		"v=TLSRPTv1":                        "problem",
		"v=TLSRPTv1; rua=":                  "problem",
		"v=TLSRPTv1; rua=ftp://r.dest.test": "problem",
		"v=TLSRPTv1; rua=mailto:nobody":     "problem",
		"v=TLSRPTv1; rua=mailto:a@dest.test; rua=mailto:b@dest.test": "problem",
		"v=TLSRPTv1; junk": "problem",
		"v=TLSRPTv1; rua=mailto:a@dest.test, http://r.dest.test/plain": "problem",
	} {
		w := newWorld(t, zone(stsRecord("dest", "1"), fmt.Sprintf(`_smtp._tls.dest IN TXT %q`, txt)), "dest.test")
		w.site.set("dest.test", enforcePolicy)
		got, err := mtasts.CheckDomain(t.Context(), w.f, "dest.test", nil)
		if err != nil {
			t.Fatal(err)
		}
		last := got[len(got)-1]
		if last.Check != mtasts.CheckTLSRPT || string(last.Severity) != sev {
			t.Errorf("record %q: finding %+v, want tls-rpt %s", txt, last, sev)
		}
	}
}

func wantFindings(t *testing.T, got []dnsx.Finding, want []string) {
	t.Helper()
	var lines []string
	for _, f := range got {
		lines = append(lines, fmt.Sprintf("%s %s %s (fix: %s)", f.Check, f.Severity, f.Message, f.Fix))
		if f.Severity != dnsx.OK && f.Fix == "" {
			t.Errorf("finding %+v has no Fix", f)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("findings:\n%s\nwant %d: %q", strings.Join(lines, "\n"), len(want), want)
	}
	for i, w := range want {
		check, rest, _ := strings.Cut(w, " ")
		sev, sub, _ := strings.Cut(rest, " ")
		if got[i].Check != check || string(got[i].Severity) != sev || !strings.Contains(got[i].Message, sub) {
			t.Errorf("finding %d: %s\nwant %s", i, lines[i], w)
		}
	}
}

// TestCheckDomainTemporaryFailure checks that a failed DNS lookup is an
// error, not a finding, as for dnsx.Check.
func TestCheckDomainTemporaryFailure(t *testing.T) {
	for _, name := range []string{"_mta-sts.dest.test.", "_smtp._tls.dest.test."} {
		w := newWorld(t, zone(stsRecord("dest", "1"), tlsrptRecord), "dest.test")
		w.site.set("dest.test", enforcePolicy)
		w.dns.ServFail(name)
		if got, err := mtasts.CheckDomain(t.Context(), w.f, "dest.test", nil); err == nil {
			t.Errorf("SERVFAIL for %s: findings %+v, want an error", name, got)
		}
	}
}

// TestCheckDomainFetchesFresh checks that CheckDomain shows the policy
// served now, not the one the Fetcher has cached.
func TestCheckDomainFetchesFresh(t *testing.T) {
	w := newWorld(t, zone(stsRecord("dest", "1"), tlsrptRecord), "dest.test")
	w.site.set("dest.test", enforcePolicy)
	wantMX(t, w.policy(t, "dest.test"), "mx.dest.test")
	w.site.set("dest.test", "version: STSv1\nmode: none\nmax_age: 1209600\n")
	got, err := mtasts.CheckDomain(t.Context(), w.f, "dest.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	wantFindings(t, got, []string{"mta-sts warning mode none", "tls-rpt ok"})
}
