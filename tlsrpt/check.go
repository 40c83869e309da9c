package tlsrpt

import (
	"context"
	"fmt"
	"strings"

	"github.com/ownmx/ownmx/dnsx"
)

// CheckName is the name of the check CheckDomain makes, as in
// dnsx.Finding.Check.
const CheckName = "tls-rpt"

// CheckDomain tells whether domain publishes a TLS-RPT record that
// senders can use (RFC 8460 §3), as seen through r: exactly one TXT record
// at "_smtp._tls.<domain>" starting with v=TLSRPTv1, valid as ParseRecord
// has it. It gives one dnsx.Finding with Check CheckName: OK, a Warning
// when there is no record, a Problem when there are several or the one is
// invalid, each with the record to publish. A failed lookup other than
// "no such record" is an error, wrapping the resolver's, as in
// dnsx.Check, so that a flaky resolver is not reported as a missing
// record.
func CheckDomain(ctx context.Context, r dnsx.Resolver, domain string) ([]dnsx.Finding, error) {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	name := "_smtp._tls." + domain
	// The final dot keeps a system resolver from trying search domains.
	txts, err := r.LookupTXT(ctx, name+".")
	if err != nil && !dnsx.IsNotFound(err) {
		return nil, fmt.Errorf("tlsrpt: looking up TXT %s: %w", name, err)
	}
	var records []string
	for _, t := range txts {
		if IsRecord(t) {
			records = append(records, t)
		}
	}
	fix := fmt.Sprintf("publish TXT %s \"v=TLSRPTv1; rua=mailto:tlsrpt@%s\"", name, domain)
	finding := func(sev dnsx.Severity, fix, format string, args ...any) []dnsx.Finding {
		return []dnsx.Finding{{Check: CheckName, Severity: sev, Message: fmt.Sprintf(format, args...), Fix: fix}}
	}
	switch len(records) {
	case 0:
		return finding(dnsx.Warning, fix, "no TLS-RPT record at %s: senders cannot report TLS failures to you (RFC 8460)", name), nil
	case 1:
	default:
		return finding(dnsx.Problem, "keep exactly one TLS-RPT record at "+name,
			"%d TLS-RPT records at %s: senders ignore them (RFC 8460 §3)", len(records), name), nil
	}
	if _, err := ParseRecord(records[0]); err != nil {
		why := err.Error()
		if re, ok := err.(*RecordError); ok {
			why = re.Msg + " (RFC 8460 §3)"
		}
		return finding(dnsx.Problem, fix, "TLS-RPT record %q at %s is invalid: %s", records[0], name, why), nil
	}
	return finding(dnsx.OK, "", "TLS-RPT record at %s: %s", name, records[0]), nil
}
