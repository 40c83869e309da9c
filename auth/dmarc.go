package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"
)

// DMARCResult is the outcome of DMARC (RFC 7489) for one message.
type DMARCResult struct {
	// Result is pass, fail, none (no usable DMARC record), temperror or
	// permerror (a From header that DMARC cannot judge cleanly: Err wraps
	// ErrUnusableFrom) (RFC 7489 §11.2).
	Result Result
	// Domain is the From header's domain (RFC 7489 §3.1: the author
	// domain) in its A-label form (ASCIIDomain); the first one when the
	// header names several; "" when it has none that DMARC can use.
	Domain string
	// Policy is the policy the domain's record asks for this message:
	// "none", "quarantine" or "reject", from sp= when the record was found
	// at the organizational domain of a subdomain (RFC 7489 §6.3); "" when
	// there is no record.
	Policy string
	// Sampled is false when the record's pct= left this message out, so
	// that the next milder policy applies to it (RFC 7489 §6.6.4).
	Sampled bool
	// SPFAligned and DKIMAligned say which passing identifier aligned with
	// the From domain (RFC 7489 §3.1).
	SPFAligned, DKIMAligned bool
	// Verdict is what to do with the message.
	Verdict Verdict
	// Err says why the result is not pass, for logs; nil on pass.
	Err error
}

// Errors of policy discovery (RFC 7489 §6.6.3). Either one means that no
// DMARC policy applies to the message.
var (
	ErrSeveralRecords = errors.New("auth: dmarc: several DMARC records")
	ErrInvalidRecord  = errors.New("auth: dmarc: invalid DMARC record")
)

// OrganizationalDomain returns the organizational domain of a domain name
// (RFC 7489 §3.2): the public suffix, by the Public Suffix List, and one
// label more, in the form ASCIIDomain gives (A-labels, lower case). A name
// that is itself a public suffix is its own. A name that ASCIIDomain
// refuses is returned in ASCII lower case without a final dot, and is the
// organizational domain of no valid name.
func OrganizationalDomain(domain string) string {
	a, err := ASCIIDomain(domain)
	if err != nil {
		return asciiLower(strings.TrimSuffix(domain, "."))
	}
	org, err := publicsuffix.EffectiveTLDPlusOne(a)
	if err != nil {
		return a
	}
	return org
}

// aligned reports whether an authenticated domain aligns with the From
// domain, which is in ASCIIDomain's form: equal in strict mode, with the
// same organizational domain in relaxed mode (RFC 7489 §3.1.1, §3.1.2).
// The authenticated domain is compared in its A-label form (RFC 8616 §4);
// one that does not convert aligns with nothing.
func aligned(authDomain, fromDomain string, mode dmarc.AlignmentMode) bool {
	a, err := ASCIIDomain(authDomain)
	if err != nil {
		return false
	}
	if a == fromDomain {
		return true
	}
	return mode != dmarc.AlignmentStrict && OrganizationalDomain(a) == OrganizationalDomain(fromDomain)
}

// lookupRecord fetches the DMARC record at _dmarc.<domain>. found is false
// when there is none; err is set with found true when the domain has
// records that make policy discovery stop (several, or an invalid one), and
// with found false for a DNS failure.
func (c *Checker) lookupRecord(ctx context.Context, domain string) (rec *dmarc.Record, found bool, err error) {
	name := "_dmarc." + domain
	txts, err := c.resolver().LookupTXT(ctx, name)
	switch classify(err) {
	case dnsNotFound:
		return nil, false, nil
	case dnsTemporary:
		return nil, false, fmt.Errorf("auth: dmarc: looking up %s: %w", name, err)
	case dnsPermanent:
		// A question that cannot be asked has no record for an answer.
		return nil, false, nil
	}
	var records []string
	for _, t := range txts {
		if isDMARCRecord(t) {
			records = append(records, t)
		}
	}
	switch len(records) {
	case 0:
		return nil, false, nil
	case 1:
		rec, err := ParseRecord(records[0])
		if err != nil {
			return nil, true, fmt.Errorf("at %s: %w", name, err)
		}
		return rec, true, nil
	}
	return nil, true, fmt.Errorf("%w at %s (%d)", ErrSeveralRecords, name, len(records))
}

// maxAuthorDomains is how many distinct domains of a From header with
// several authors DMARC evaluates when such a message is not simply
// refused (Checker.QuarantineUnusableFrom): each costs DNS queries, and the
// message goes to Junk whatever the others say.
const maxAuthorDomains = 5

// DMARC evaluates DMARC (RFC 7489) for a message whose From header fields
// have the values from (one value per field, in order), given the results
// of SPF and DKIM. It finds the author domain's record at _dmarc.<domain>,
// or else at its organizational domain, the domain in its A-label form
// (RFC 8616 §4); checks whether a passing SPF or DKIM identifier aligns
// with it; and applies the record's policy (sp= for subdomains, pct=) to
// reach a Verdict.
//
// A DNS temporary failure that leaves the verdict open gives temperror and
// Defer, never Deliver and never Reject.
//
// A From header that DMARC cannot judge cleanly (RFC 7489 §6.6.1) gives
// permerror, an error wrapping ErrUnusableFrom, and Reject: no From field,
// several fields, several addresses (each field must hold one mailbox,
// RFC 5322 §3.6.2), or one that AuthorDomains refuses. With
// QuarantineUnusableFrom the verdict is Quarantine instead, and for
// several authors the first maxAuthorDomains domains are evaluated too: a
// stricter verdict of theirs (Reject, Defer) wins.
func (c *Checker) DMARC(ctx context.Context, from []string, spf SPFResult, dkim []DKIMResult) DMARCResult {
	domains, err := AuthorDomains(from)
	if err != nil {
		return DMARCResult{Result: PermError, Verdict: c.unusableFromVerdict(), Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	if len(domains) == 1 {
		return c.evaluate(ctx, domains[0], spf, dkim)
	}
	// Several authors: never a pass, and never the inbox.
	res := DMARCResult{Result: PermError, Domain: domains[0], Verdict: c.unusableFromVerdict(),
		Err: fmt.Errorf("%w (%d addresses)", ErrSeveralFrom, len(domains))}
	if res.Verdict == Reject {
		return res // nothing is stricter: no DNS query for it
	}
	seen := make(map[string]bool)
	for _, d := range domains {
		if seen[d] || len(seen) == maxAuthorDomains {
			continue
		}
		seen[d] = true
		r := c.evaluate(ctx, d, spf, dkim)
		if r.Verdict.rank() > res.Verdict.rank() {
			res.Verdict, res.Policy, res.Sampled = r.Verdict, r.Policy, r.Sampled
			res.Err = errors.Join(fmt.Errorf("%w (%d addresses)", ErrSeveralFrom, len(domains)), r.Err)
		}
	}
	return res
}

// unusableFromVerdict is the verdict for a From header that DMARC cannot
// judge cleanly.
func (c *Checker) unusableFromVerdict() Verdict {
	if c.QuarantineUnusableFrom {
		return Quarantine
	}
	return Reject
}

// evaluate runs DMARC for one author domain.
func (c *Checker) evaluate(ctx context.Context, domain string, spf SPFResult, dkim []DKIMResult) DMARCResult {
	res := DMARCResult{Domain: domain, Sampled: true}

	// RFC 7489 §6.6.3: the author domain's record, else the
	// organizational domain's.
	rec, found, err := c.lookupRecord(ctx, domain)
	org := OrganizationalDomain(domain)
	atOrg := false
	if err == nil && !found && org != domain {
		rec, found, err = c.lookupRecord(ctx, org)
		atOrg = true
	}
	switch {
	case err != nil && !found:
		res.Result, res.Verdict, res.Err = TempError, Defer, err
		c.logger().WarnContext(ctx, "DMARC record lookup failed temporarily", "domain", domain, "err", err)
		return res
	case err != nil:
		// Several records or an invalid one: no policy applies (RFC 7489
		// §6.6.3 step 3, §6.3).
		res.Result, res.Verdict, res.Err = None, Deliver, err
		return res
	case !found:
		res.Result, res.Verdict = None, Deliver
		res.Err = fmt.Errorf("auth: dmarc: no DMARC record for %s", domain)
		return res
	}

	res.Policy = string(rec.Policy)
	if atOrg && rec.SubdomainPolicy != "" {
		res.Policy = string(rec.SubdomainPolicy)
	}

	res.SPFAligned = spf.Result == Pass && aligned(spf.Domain, domain, rec.SPFAlignment)
	pending := spf.Result == TempError && aligned(spf.Domain, domain, rec.SPFAlignment)
	for _, d := range dkim {
		switch {
		case d.Result == Pass && aligned(d.Domain, domain, rec.DKIMAlignment):
			res.DKIMAligned = true
		case d.Result == TempError && aligned(d.Domain, domain, rec.DKIMAlignment):
			pending = true
		}
	}
	switch {
	case res.SPFAligned || res.DKIMAligned:
		res.Result, res.Verdict = Pass, Deliver
		return res
	case pending:
		// An aligned identifier might have passed but for DNS: the
		// verdict is open unless the policy asks for nothing anyway.
		res.Result = TempError
		res.Err = fmt.Errorf("auth: dmarc: %s: an aligned SPF or DKIM check failed temporarily", domain)
		res.Verdict = Defer
		if res.Policy == string(dmarc.PolicyNone) {
			res.Verdict = Deliver
		}
		return res
	}

	res.Result = Fail
	res.Err = fmt.Errorf("auth: dmarc: %s: no aligned SPF or DKIM pass (policy %s)", domain, res.Policy)
	disposition := res.Policy
	if rec.Percent != nil && *rec.Percent < 100 && c.intN(100) >= *rec.Percent {
		// RFC 7489 §6.6.4: a message left out by pct= gets the next
		// milder policy.
		res.Sampled = false
		switch disposition {
		case dmarc.PolicyReject:
			disposition = dmarc.PolicyQuarantine
		case dmarc.PolicyQuarantine:
			disposition = string(dmarc.PolicyNone)
		}
	}
	switch disposition {
	case dmarc.PolicyReject:
		res.Verdict = Reject
	case dmarc.PolicyQuarantine:
		res.Verdict = Quarantine
	default:
		res.Verdict = Deliver
	}
	return res
}
