package tlsrpt_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ownmx/ownmx/dnsx"
	"github.com/ownmx/ownmx/dnsx/dnstest"
	"github.com/ownmx/ownmx/tlsrpt"
)

// TestCheckDomain looks up "_smtp._tls" records served by dnstest and
// checks the one finding a user sees.
func TestCheckDomain(t *testing.T) {
	const head = "$ORIGIN example.com.\n@ 3600 IN SOA ns.example.com. hostmaster.example.com. 1 3600 600 86400 60\n"
	for _, tc := range []struct {
		name    string
		records []string
		sev     dnsx.Severity
		message string
	}{
		{"valid", []string{"v=TLSRPTv1; rua=mailto:tlsrpt@example.com"}, dnsx.OK, "TLS-RPT record at _smtp._tls.example.com"},
		{"none", nil, dnsx.Warning, "no TLS-RPT record"},
		{"only other TXT", []string{"v=spf1 -all"}, dnsx.Warning, "no TLS-RPT record"},
		{"two", []string{"v=TLSRPTv1; rua=mailto:a@example.com", "v=TLSRPTv1; rua=mailto:b@example.com"}, dnsx.Problem, "2 TLS-RPT records"},
		{"invalid", []string{"v=TLSRPTv1; rua=http://example.com/r"}, dnsx.Problem, "is not a mailto: or https: URI"},
		{"no rua", []string{"v=TLSRPTv1; ruf=mailto:a@example.com"}, dnsx.Problem, "no rua= field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			zone := head
			for _, r := range tc.records {
				zone += fmt.Sprintf("_smtp._tls 3600 IN TXT %q\n", r)
			}
			srv := dnstest.NewServer(t, zone)
			got, err := tlsrpt.CheckDomain(t.Context(), dnsx.NewResolver(srv.Addr), "Example.COM.")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Check != "tls-rpt" || got[0].Severity != tc.sev || !strings.Contains(got[0].Message, tc.message) {
				t.Fatalf("findings %+v, want one tls-rpt %s saying %q", got, tc.sev, tc.message)
			}
			if tc.sev != dnsx.OK && !strings.Contains(got[0].Fix, `_smtp._tls.example.com "v=TLSRPTv1; rua=mailto:tlsrpt@example.com"`) &&
				!strings.Contains(got[0].Fix, "keep exactly one") {
				t.Errorf("fix %q does not say what to publish", got[0].Fix)
			}
		})
	}

	// A failed lookup is an error, not a missing record.
	srv := dnstest.NewServer(t, head)
	srv.ServFail("_smtp._tls.example.com.")
	if got, err := tlsrpt.CheckDomain(t.Context(), dnsx.NewResolver(srv.Addr), "example.com"); err == nil || !dnsx.IsTemporary(err) {
		t.Errorf("SERVFAIL: %+v, %v; want a temporary error", got, err)
	}
}
