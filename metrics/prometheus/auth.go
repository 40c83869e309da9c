package prometheus

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ownmx/ownmx/auth"
)

// Auth holds the metrics of an auth.Checker's verdicts.
type Auth struct {
	results   *prometheus.CounterVec
	verdicts  *prometheus.CounterVec
	unchecked prometheus.Counter
}

// NewAuth makes the authentication metrics and registers them with reg.
// Set its Checked as the Checker's.
func NewAuth(reg prometheus.Registerer) *Auth {
	m := &Auth{
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ownmx_auth_results_total",
			Help: "Authentication results of the messages checked, by method (spf, dkim, dmarc) and result (RFC 8601 words); dkim counts each signature, none for an unsigned message.",
		}, []string{"method", "result"}),
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ownmx_auth_verdicts_total",
			Help: "Verdicts on the messages checked (deliver, quarantine, reject, defer), by the DMARC policy the sender domain publishes (none, quarantine, reject, absent).",
		}, []string{"verdict", "policy"}),
		unchecked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ownmx_auth_unchecked_total",
			Help: "Messages of trusted clients, passed on without checks.",
		}),
	}
	reg.MustRegister(m.results, m.verdicts, m.unchecked)
	return m
}

// knownResults and knownVerdicts are the words counted as themselves;
// anything else is "other", which keeps the labels bounded.
var (
	knownResults = map[auth.Result]bool{
		auth.None: true, auth.Pass: true, auth.Fail: true, auth.SoftFail: true, auth.Neutral: true,
		auth.Policy: true, auth.TempError: true, auth.PermError: true,
	}
	knownVerdicts = map[auth.Verdict]bool{auth.Deliver: true, auth.Quarantine: true, auth.Reject: true, auth.Defer: true}
	knownPolicies = map[string]bool{"none": true, "quarantine": true, "reject": true}
)

// Checked counts the results of one message: it is an
// auth.Checker.Checked.
func (m *Auth) Checked(res *auth.Results) {
	if res.Trusted {
		m.unchecked.Inc()
		return
	}
	m.result("spf", res.SPF.Result)
	if len(res.DKIM) == 0 {
		m.result("dkim", auth.None)
	}
	for _, d := range res.DKIM {
		m.result("dkim", d.Result)
	}
	m.result("dmarc", res.DMARC.Result)
	verdict := res.Verdict()
	if !knownVerdicts[verdict] {
		verdict = "other"
	}
	policy := res.DMARC.Policy
	switch {
	case policy == "":
		policy = "absent"
	case !knownPolicies[policy]:
		policy = "other"
	}
	m.verdicts.WithLabelValues(string(verdict), policy).Inc()
}

func (m *Auth) result(method string, r auth.Result) {
	if !knownResults[r] {
		r = "other"
	}
	m.results.WithLabelValues(method, string(r)).Inc()
}
