package prometheus_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ownmx/ownmx/auth"
	smtpprom "github.com/ownmx/ownmx/metrics/prometheus"
	"github.com/ownmx/ownmx/metrics/prometheus/promtest"
)

// TestAuthVerdicts: the results a Checker reports are counted by method
// and result, each DKIM signature once and an unsigned message as none;
// verdicts by the policy published ("absent" without a record); trusted
// clients apart; a word outside the RFC's is "other", so labels stay
// bounded.
func TestAuthVerdicts(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := smtpprom.NewAuth(reg)
	for _, res := range []*auth.Results{
		{ // signed twice, DMARC pass: deliver
			SPF:   auth.SPFResult{Result: auth.Pass},
			DKIM:  []auth.DKIMResult{{Result: auth.Pass}, {Result: auth.Fail}},
			DMARC: auth.DMARCResult{Result: auth.Pass, Policy: "reject", Verdict: auth.Deliver},
		},
		{ // unsigned, p=reject: reject
			SPF:   auth.SPFResult{Result: auth.SoftFail},
			DMARC: auth.DMARCResult{Result: auth.Fail, Policy: "reject", Verdict: auth.Reject},
		},
		{ // no DMARC record
			SPF:   auth.SPFResult{Result: auth.None},
			DMARC: auth.DMARCResult{Result: auth.None, Verdict: auth.Deliver},
		},
		{ // a result the RFC has no word for
			SPF:   auth.SPFResult{Result: "made-up"},
			DMARC: auth.DMARCResult{Result: auth.TempError, Policy: "quarantine", Verdict: auth.Defer},
		},
		{Trusted: true, DMARC: auth.DMARCResult{Verdict: auth.Deliver}},
	} {
		m.Checked(res)
	}
	families := scrape(t, reg)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"ownmx_auth_results_total", map[string]string{"method": "spf", "result": "pass"}, 1},
		{"ownmx_auth_results_total", map[string]string{"method": "spf", "result": "softfail"}, 1},
		{"ownmx_auth_results_total", map[string]string{"method": "spf", "result": "none"}, 1},
		{"ownmx_auth_results_total", map[string]string{"method": "spf", "result": "other"}, 1},
		{"ownmx_auth_results_total", map[string]string{"method": "dkim", "result": "pass"}, 1},
		{"ownmx_auth_results_total", map[string]string{"method": "dkim", "result": "fail"}, 1},
		{"ownmx_auth_results_total", map[string]string{"method": "dkim", "result": "none"}, 3},
		{"ownmx_auth_results_total", map[string]string{"method": "dmarc", "result": "pass"}, 1},
		{"ownmx_auth_results_total", map[string]string{"method": "dmarc", "result": "fail"}, 1},
		{"ownmx_auth_results_total", map[string]string{"method": "dmarc", "result": "temperror"}, 1},
		{"ownmx_auth_verdicts_total", map[string]string{"verdict": "deliver", "policy": "reject"}, 1},
		{"ownmx_auth_verdicts_total", map[string]string{"verdict": "reject", "policy": "reject"}, 1},
		{"ownmx_auth_verdicts_total", map[string]string{"verdict": "deliver", "policy": "absent"}, 1},
		{"ownmx_auth_verdicts_total", map[string]string{"verdict": "defer", "policy": "quarantine"}, 1},
		{"ownmx_auth_unchecked_total", nil, 1},
	} {
		if got := promtest.Value(families, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if n := len(families["ownmx_auth_verdicts_total"].GetMetric()); n != 4 {
		t.Errorf("%d verdict series, want 4 (the trusted message is not judged)", n)
	}
}
