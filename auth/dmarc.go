package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"

	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"
)

// DMARCResult is the outcome of DMARC (RFC 7489) for one message.
type DMARCResult struct {
	// Result is pass, fail, none (no usable DMARC record), temperror or
	// permerror (no From domain that DMARC can evaluate) (RFC 7489 §11.2).
	Result Result
	// Domain is the From header's domain (RFC 7489 §3.1: the author
	// domain); the first one when the header names several.
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

// Errors for a From header that DMARC cannot evaluate (RFC 7489 §6.6.1).
var (
	ErrNoFrom       = errors.New("auth: dmarc: message has no From header")
	ErrSeveralFrom  = errors.New("auth: dmarc: From header names several authors")
	ErrFromNoDomain = errors.New("auth: dmarc: From address has no domain")
	ErrFromInvalid  = errors.New("auth: dmarc: From header does not parse")
)

// Errors of policy discovery (RFC 7489 §6.6.3). Either one means that no
// DMARC policy applies to the message.
var (
	ErrSeveralRecords = errors.New("auth: dmarc: several DMARC records")
	ErrInvalidRecord  = errors.New("auth: dmarc: invalid DMARC record")
)

// addressParser parses From headers. Only the addresses matter, so words
// in unknown charsets are left as they are instead of failing the header.
var addressParser = mail.AddressParser{WordDecoder: &mime.WordDecoder{
	CharsetReader: func(charset string, input io.Reader) (io.Reader, error) { return input, nil },
}}

// AuthorDomains returns the domain of each address in the From header
// fields whose values are given, one value per field, in order: the author
// domains of RFC 7489 §3.1. Domains are lower-cased, without a trailing
// dot. It fails with ErrNoFrom when there is no field,
// and ErrFromInvalid or ErrFromNoDomain when an address cannot be read.
// Several fields or addresses are returned as they are: RFC 5322 §3.6
// allows only one field, and the caller decides what several mean.
func AuthorDomains(from []string) ([]string, error) {
	if len(from) == 0 {
		return nil, ErrNoFrom
	}
	var domains []string
	for _, v := range from {
		addrs, err := addressParser.ParseList(v)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %v", ErrFromInvalid, truncate(v, 100), err)
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("%w: %q", ErrFromInvalid, truncate(v, 100))
		}
		for _, a := range addrs {
			_, d, ok := splitAddress(a.Address)
			d = normalizeDomain(d)
			if !ok || d == "" {
				return nil, fmt.Errorf("%w: %q", ErrFromNoDomain, truncate(a.Address, 100))
			}
			domains = append(domains, d)
		}
	}
	return domains, nil
}

// truncate shortens s to at most n bytes for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// normalizeDomain lower-cases d and removes a trailing dot; it returns ""
// for a name that is not a valid domain. Internationalized names are kept
// in their UTF-8 form (RFC 6532).
func normalizeDomain(d string) string {
	d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
	if !isDomainName(d) {
		return ""
	}
	return d
}

// OrganizationalDomain returns the organizational domain of a domain name
// (RFC 7489 §3.2): the public suffix, by the Public Suffix List, and one
// label more. A name that is itself a public suffix is its own.
func OrganizationalDomain(domain string) string {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	org, err := publicsuffix.EffectiveTLDPlusOne(domain)
	if err != nil {
		return domain
	}
	return org
}

// aligned reports whether an authenticated domain aligns with the From
// domain: equal in strict mode, with the same organizational domain in
// relaxed mode (RFC 7489 §3.1.1, §3.1.2).
func aligned(authDomain, fromDomain string, mode dmarc.AlignmentMode) bool {
	a := strings.TrimSuffix(strings.ToLower(authDomain), ".")
	if a == "" {
		return false
	}
	if a == fromDomain {
		return true
	}
	return mode != dmarc.AlignmentStrict && OrganizationalDomain(a) == OrganizationalDomain(fromDomain)
}

// ParseRecord parses a DMARC record (RFC 7489 §6.3, §6.4). The record
// must start with the tag "v=DMARC1"; tag names and the values of p, sp,
// adkim and aspf are case-insensitive; unknown tags are ignored.
func ParseRecord(txt string) (*dmarc.Record, error) {
	if !isDMARCRecord(txt) {
		return nil, fmt.Errorf("%w: does not start with v=DMARC1: %q", ErrInvalidRecord, truncate(txt, 100))
	}
	_, rest, _ := strings.Cut(txt, ";")
	rec, err := dmarc.Parse("v=DMARC1;" + strings.ToLower(rest))
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrInvalidRecord, truncate(txt, 100), err)
	}
	return rec, nil
}

// isDMARCRecord reports whether a TXT record's first tag is v=DMARC1
// (RFC 7489 §6.6.3 step 2; the value is case-sensitive, §6.4).
func isDMARCRecord(txt string) bool {
	first, _, _ := strings.Cut(txt, ";")
	k, v, ok := strings.Cut(first, "=")
	return ok && strings.TrimSpace(k) == "v" && strings.TrimSpace(v) == "DMARC1"
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

// DMARC evaluates DMARC (RFC 7489) for a message whose From header fields
// have the values from (one value per field, in order), given the results
// of SPF and DKIM. It finds the author domain's record at _dmarc.<domain>,
// or else at its organizational domain; checks whether a passing SPF or
// DKIM identifier aligns with it; and applies the record's policy (sp= for
// subdomains, pct=) to reach a Verdict.
//
// A DNS temporary failure that leaves the verdict open gives temperror and
// Defer, never Deliver and never Reject. A From header without a usable
// domain gives permerror and Quarantine. A From header with several
// addresses (or several From fields) is never a pass: each domain is
// evaluated and the strictest verdict applies (RFC 7489 §6.6.1).
func (c *Checker) DMARC(ctx context.Context, from []string, spf SPFResult, dkim []DKIMResult) DMARCResult {
	domains, err := AuthorDomains(from)
	if err != nil {
		return DMARCResult{Result: PermError, Verdict: Quarantine, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	if len(domains) == 1 {
		return c.evaluate(ctx, domains[0], spf, dkim)
	}
	// Several authors: evaluate each domain once; the strictest wins.
	seen := make(map[string]bool)
	var worst DMARCResult
	for i, d := range domains {
		if seen[d] {
			continue
		}
		seen[d] = true
		r := c.evaluate(ctx, d, spf, dkim)
		if i == 0 || r.Verdict.rank() > worst.Verdict.rank() ||
			(r.Verdict == worst.Verdict && worst.Result == Pass && r.Result != Pass) {
			worst = r
		}
	}
	if worst.Result == Pass {
		worst.Result = PermError
	}
	worst.Domain = domains[0]
	worst.Err = errors.Join(fmt.Errorf("%w (%d addresses)", ErrSeveralFrom, len(domains)), worst.Err)
	return worst
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
