package mtasts

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ownmx/ownmx/dnsx"
	"github.com/ownmx/ownmx/tlsrpt"
)

// The names of the checks CheckDomain makes, as in dnsx.Finding.Check.
const (
	CheckMTASTS = "mta-sts"
	CheckTLSRPT = tlsrpt.CheckName
)

// minMaxAge is the max_age below which CheckDomain warns: senders forget a
// policy that short between two messages, which leaves the first message
// after it unprotected. RFC 8461 §3.2 suggests weeks.
const minMaxAge = 24 * time.Hour

// CheckDomain tells whether domain publishes an MTA-STS policy that
// senders can use (RFC 8461) and a TLS-RPT record (RFC 8460 §3), as seen
// through f's resolver and client: the "_mta-sts" record (present, exactly
// one, valid), the policy fetched fresh over HTTPS (never from f's cache),
// its mode, whether each of mxHosts, the domain's MX hosts, matches an mx
// pattern, its max_age, and the "_smtp._tls" record. Each gives a
// dnsx.Finding with Check CheckMTASTS or CheckTLSRPT. A temporary DNS
// failure makes it return an error, as dnsx.Check does; a failed fetch is a
// finding. It is CheckPolicy followed by tlsrpt.CheckDomain.
func CheckDomain(ctx context.Context, f *Fetcher, domain string, mxHosts []string) ([]dnsx.Finding, error) {
	list, err := CheckPolicy(ctx, f, domain, mxHosts)
	if err != nil {
		return nil, err
	}
	rpt, err := tlsrpt.CheckDomain(ctx, f.resolver(), domain)
	if err != nil {
		return nil, err
	}
	return append(list, rpt...), nil
}

// CheckPolicy is the MTA-STS half of CheckDomain: the "_mta-sts" record,
// the policy fetched fresh, its mode, the mxHosts it covers and its
// max_age, each a dnsx.Finding with Check CheckMTASTS.
func CheckPolicy(ctx context.Context, f *Fetcher, domain string, mxHosts []string) ([]dnsx.Finding, error) {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	var c findings
	if err := c.policy(ctx, f, domain, mxHosts); err != nil {
		return nil, err
	}
	return c.list, nil
}

// findings collects CheckDomain's findings.
type findings struct{ list []dnsx.Finding }

func (c *findings) add(check string, sev dnsx.Severity, fix, format string, args ...any) {
	c.list = append(c.list, dnsx.Finding{Check: check, Severity: sev, Message: fmt.Sprintf(format, args...), Fix: fix})
}

// txtRecords returns the TXT records at name that start with prefix, nil
// when there are none, or an error for a failed lookup.
func txtRecords(ctx context.Context, r dnsx.Resolver, name, prefix string) ([]string, error) {
	txts, err := r.LookupTXT(ctx, name+".")
	if dnsx.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mtasts: looking up TXT %s: %w", name, err)
	}
	var out []string
	for _, t := range txts {
		if strings.HasPrefix(strings.ToLower(t), strings.ToLower(prefix)) {
			out = append(out, t)
		}
	}
	return out, nil
}

func (c *findings) policy(ctx context.Context, f *Fetcher, domain string, mxHosts []string) error {
	name := "_mta-sts." + domain
	records, err := txtRecords(ctx, f.resolver(), name, "v=STSv1")
	if err != nil {
		return err
	}
	publish := fmt.Sprintf("publish TXT %s \"v=STSv1; id=<id>\" and serve the policy at %s (see mtasts.Records)", name, policyURL(domain))
	switch len(records) {
	case 0:
		c.add(CheckMTASTS, dnsx.Warning, publish, "no MTA-STS record at %s: senders may deliver to this domain without TLS", name)
		return nil
	case 1:
	default:
		c.add(CheckMTASTS, dnsx.Problem, "keep exactly one TXT record starting with v=STSv1 at "+name,
			"%d MTA-STS records at %s: senders ignore them all (RFC 8461 §3.1)", len(records), name)
		return nil
	}
	id, err := ParseRecord(records[0])
	if err != nil {
		c.add(CheckMTASTS, dnsx.Problem, publish, "MTA-STS record %q at %s is invalid: %v", records[0], name, err)
		return nil
	}
	p, err := f.fetch(ctx, domain, id)
	if err != nil {
		c.add(CheckMTASTS, dnsx.Problem,
			"serve the policy at "+policyURL(domain)+" over HTTPS with a certificate valid for mta-sts."+domain+", Content-Type text/plain, no redirect",
			"the policy of %s could not be fetched: %v", domain, err)
		return nil
	}
	switch p.Mode {
	case None:
		c.add(CheckMTASTS, dnsx.Warning, "set mode: testing, then enforce, in the policy", "the policy of %s has mode none: senders treat the domain as having no policy", domain)
	case Testing:
		c.add(CheckMTASTS, dnsx.OK, "", "the policy of %s (id %s) has mode testing: senders report TLS failures but still deliver; move to enforce once reports are clean", domain, id)
	default:
		c.add(CheckMTASTS, dnsx.OK, "", "the policy of %s (id %s) has mode enforce", domain, id)
	}
	for _, mx := range mxHosts {
		if p.Match(mx) {
			continue
		}
		sev := dnsx.Warning
		if p.Mode == Enforce {
			sev = dnsx.Problem
		}
		c.add(CheckMTASTS, sev, "add \"mx: "+strings.TrimSuffix(strings.ToLower(mx), ".")+"\" to the policy, and change the record's id",
			"MX host %s matches no mx line of the policy: compliant senders will not deliver to it in enforce mode", mx)
	}
	if p.MaxAge < minMaxAge {
		c.add(CheckMTASTS, dnsx.Warning, "set max_age to a few weeks, such as 1209600 (RFC 8461 §3.2)",
			"the policy's max_age is %d seconds, under a day: senders forget it between messages", int64(p.MaxAge/time.Second))
	}
	return nil
}
