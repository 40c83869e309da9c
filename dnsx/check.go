package dnsx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// Severity says how much a [Finding] matters.
type Severity string

// The severities of findings. Their values are the words printed and put
// in JSON.
const (
	// OK: the record is as it should be.
	OK Severity = "ok"
	// Warning: mail can arrive, but something is off or missing.
	Warning Severity = "warning"
	// Problem: mail will not arrive, or will be refused or spoofed.
	Problem Severity = "problem"
)

// The names of the checks, as in Finding.Check.
const (
	CheckMX    = "mx"
	CheckA     = "a"
	CheckPTR   = "ptr"
	CheckSPF   = "spf"
	CheckDMARC = "dmarc"
	CheckDKIM  = "dkim"
)

// Expect says where a domain's mail should arrive.
type Expect struct {
	// MXHost is the host name of our mail exchanger, such as
	// "mx.example.com".
	MXHost string
	// IPs are the public addresses MXHost should resolve to.
	IPs []netip.Addr
	// DKIMSelectors name the DKIM keys that should be published under
	// <selector>._domainkey.<domain>; none means DKIM is not checked.
	DKIMSelectors []string
	// Extra are more checks that Check runs after its own, in order,
	// their findings appended to the report's; none by default. They are
	// how checks from packages that themselves import dnsx join in
	// without an import cycle, such as MTA-STS and TLS-RPT:
	//
	//	Extra: []dnsx.CheckFunc{
	//		func(ctx context.Context, domain string, mx []string) ([]dnsx.Finding, error) {
	//			return mtasts.CheckPolicy(ctx, fetcher, domain, mx)
	//		},
	//	}
	Extra []CheckFunc
}

// CheckFunc is a check that Check runs after its own (see Expect.Extra).
// domain is the domain checked, in lower case without a final dot;
// mxHosts are the hosts its MX records name, in preference order, in lower
// case without final dots, followed by Expect.MXHost when the records do
// not name it (the host they should name). It returns its findings, or an
// error when it could not tell (a temporary DNS failure), which makes
// Check fail with it.
type CheckFunc func(ctx context.Context, domain string, mxHosts []string) ([]Finding, error)

// Finding is the outcome of one check on one record.
type Finding struct {
	// Check is one of "mx", "a", "ptr", "spf", "dmarc", "dkim", or the
	// name an Expect.Extra check gives its findings: "mta-sts" for the
	// MTA-STS record and policy (mtasts.CheckPolicy, RFC 8461), "tls-rpt"
	// for the TLS-RPT record (tlsrpt.CheckDomain, RFC 8460).
	Check string `json:"check"`
	// Severity is ok, warning or problem.
	Severity Severity `json:"severity"`
	// Message says in one line what was found.
	Message string `json:"message"`
	// Fix says what to publish or change, when known; empty for OK.
	Fix string `json:"fix"`
}

// Report is what [Check] found about a domain.
type Report struct {
	// Domain is the domain checked, without a final dot.
	Domain string `json:"domain"`
	// OK is true when no finding is a Problem.
	OK bool `json:"ok"`
	// Findings are in the order of the checks: mx, a, ptr, spf, dmarc,
	// dkim, then those of Expect.Extra.
	Findings []Finding `json:"findings"`
}

// Check tells whether domain is set up to receive mail at expect.MXHost and
// expect.IPs, and whether its SPF, DMARC and DKIM records are published and
// valid. Each record gives a [Finding]:
//
//   - mx: MX records exist, expect.MXHost is among them with the lowest
//     preference; a null MX (RFC 7505), an MX target that is a CNAME
//     (RFC 2181 §10.3) or an IP address (RFC 1035 §3.3.9) is a problem.
//   - a: expect.MXHost has A/AAAA records for every expected address; other
//     addresses are a warning.
//   - ptr: each expected address has a PTR name that resolves back to it
//     (forward-confirmed reverse DNS); a warning when not.
//   - spf: exactly one SPF record (RFC 7208 §4.5), valid, ending in -all or
//     ~all.
//   - dmarc: exactly one valid DMARC record at _dmarc.<domain>
//     (RFC 7489 §6.6.3); a missing one is a warning.
//   - dkim: each selector in expect.DKIMSelectors has a valid key record.
//   - then each check of expect.Extra, such as mta-sts and tls-rpt.
//
// Names that do not exist and records that are missing are findings. A
// temporary failure (timeout, SERVFAIL, REFUSED) makes Check return an
// error instead, wrapping the *net.DNSError of the lookup that failed, so
// that a flaky resolver is never reported as a broken domain.
//
// q is asked directly, not through a Resolver, so that CNAME records stay
// visible; pass a [Cache] or a [Client].
func Check(ctx context.Context, q Querier, domain string, expect Expect) (*Report, error) {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	if !isHostname(domain) {
		return nil, fmt.Errorf("dnsx: check: %q is not a domain name", domain)
	}
	host := strings.TrimSuffix(strings.ToLower(expect.MXHost), ".")
	if !isHostname(host) {
		return nil, fmt.Errorf("dnsx: check %s: MX host %q is not a host name", domain, expect.MXHost)
	}
	c := &checker{q: q, domain: domain, host: host, expect: expect}
	steps := []func(context.Context) error{c.mx, c.a, c.ptr, c.spf, c.dmarc, c.dkim}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return nil, fmt.Errorf("dnsx: check %s: %w", domain, err)
		}
	}
	for _, extra := range expect.Extra {
		found, err := extra(ctx, domain, slices.Clone(c.mxHosts))
		if err != nil {
			return nil, fmt.Errorf("dnsx: check %s: %w", domain, err)
		}
		c.findings = append(c.findings, found...)
	}
	r := &Report{Domain: domain, OK: true, Findings: c.findings}
	for _, f := range c.findings {
		if f.Severity == Problem {
			r.OK = false
		}
	}
	return r, nil
}

// isHostname reports whether s, without a final dot, is a host or domain
// name as mail uses them: dot-separated labels of letters, digits and
// hyphens (RFC 5321 §4.1.2), at most 63 bytes each and 253 in all
// (RFC 1035 §2.3.4).
func isHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

type checker struct {
	q        Querier
	domain   string
	host     string
	expect   Expect
	findings []Finding
	// mxHosts are the MX hosts for Expect.Extra: those the records name,
	// then host if they do not.
	mxHosts []string
}

func (c *checker) add(check string, sev Severity, fix string, format string, args ...any) {
	c.findings = append(c.findings, Finding{Check: check, Severity: sev, Message: fmt.Sprintf(format, args...), Fix: fix})
}

// fatal reports whether err ends the check: anything but a missing record.
func fatal(err error) bool { return err != nil && !IsNotFound(err) }

// mxLine is the zone-file line that makes our host the domain's MX.
func (c *checker) mxLine() string { return fmt.Sprintf("%s. MX 10 %s.", c.domain, c.host) }

func (c *checker) mx(ctx context.Context) error {
	mxs, err := lookupMX(ctx, c.q, c.domain)
	if fatal(err) {
		return err
	}
	for _, mx := range mxs {
		h := strings.TrimSuffix(strings.ToLower(mx.Host), ".")
		if _, err := netip.ParseAddr(h); h != "" && err != nil && !slices.Contains(c.mxHosts, h) {
			c.mxHosts = append(c.mxHosts, h)
		}
	}
	if !slices.Contains(c.mxHosts, c.host) {
		c.mxHosts = append(c.mxHosts, c.host)
	}
	if len(mxs) == 0 {
		var de *net.DNSError
		if errors.As(err, &de) && de.Err == errNoSuchHost {
			c.add(CheckMX, Problem, "register the domain or publish its zone, with "+c.mxLine(),
				"%s does not exist in DNS (NXDOMAIN)", c.domain)
			return nil
		}
		c.add(CheckMX, Problem, "publish "+c.mxLine(),
			"%s has no MX records, so senders try its A record (RFC 5321 §5.1), not %s", c.domain, c.host)
		return nil
	}
	if len(mxs) == 1 && (mxs[0].Host == "." || mxs[0].Host == "") {
		c.add(CheckMX, Problem, "replace the null MX with "+c.mxLine(),
			"%s publishes a null MX (RFC 7505): it says it accepts no mail", c.domain)
		return nil
	}
	var ours *net.MX
	var hosts []string
	for _, mx := range mxs {
		h := strings.TrimSuffix(strings.ToLower(mx.Host), ".")
		hosts = append(hosts, fmt.Sprintf("%s (preference %d)", h, mx.Pref))
		if h == c.host && ours == nil {
			ours = mx
		}
	}
	switch {
	case ours == nil:
		c.add(CheckMX, Problem, "publish "+c.mxLine()+" and remove MX records of hosts that do not take the domain's mail",
			"MX of %s points to %s, not to %s", c.domain, strings.Join(hosts, ", "), c.host)
	case ours.Pref > mxs[0].Pref:
		c.add(CheckMX, Warning, fmt.Sprintf("give %s the lowest preference, or make sure %s relays to it", c.host, strings.TrimSuffix(mxs[0].Host, ".")),
			"MX of %s: %s has preference %d, but %s comes first", c.domain, c.host, ours.Pref, hosts[0])
	default:
		c.add(CheckMX, OK, "", "MX of %s points to %s", c.domain, strings.Join(hosts, ", "))
	}

	// Each target must be a host name with its own address records.
	for _, mx := range mxs {
		target := strings.TrimSuffix(mx.Host, ".")
		if ip, err := netip.ParseAddr(target); err == nil {
			c.add(CheckMX, Problem, fmt.Sprintf("point the MX at a host name instead: %s. MX %d %s. and %s", c.domain, mx.Pref, c.host, addrLine(c.host, ip)),
				"MX target %s is an IP address; an MX names a host (RFC 1035 §3.3.9)", target)
			continue
		}
		a, err := c.q.Query(ctx, target, dns.TypeCNAME)
		if fatal(err) {
			return failure(target, a.Server, err)
		}
		if cn := a.records(dns.TypeCNAME); len(cn) > 0 {
			to := strings.TrimSuffix(cn[0].(*dns.CNAME).Target, ".")
			c.add(CheckMX, Problem, fmt.Sprintf("replace the CNAME with the A/AAAA records of %s", to),
				"MX target %s is a CNAME to %s; an MX must name a host with its own addresses (RFC 2181 §10.3)", target, to)
		}
	}
	return nil
}

// addrLine is the zone-file line giving host the address ip.
func addrLine(host string, ip netip.Addr) string {
	if ip.Is4() {
		return fmt.Sprintf("%s. A %s", host, ip)
	}
	return fmt.Sprintf("%s. AAAA %s", host, ip)
}

func (c *checker) a(ctx context.Context) error {
	addrs, err := lookupIPAddr(ctx, c.q, c.host)
	if fatal(err) {
		return err
	}
	var lines []string
	for _, ip := range c.expect.IPs {
		lines = append(lines, addrLine(c.host, ip))
	}
	if len(addrs) == 0 {
		c.add(CheckA, Problem, "publish "+strings.Join(lines, " and "),
			"%s has no A or AAAA records", c.host)
		return nil
	}
	var have []netip.Addr
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			have = append(have, ip.Unmap())
		}
	}
	var missing, missingLines, extra []string
	for i, ip := range c.expect.IPs {
		if !slices.Contains(have, ip.Unmap()) {
			missing = append(missing, ip.String())
			missingLines = append(missingLines, lines[i])
		}
	}
	for _, ip := range have {
		if !slices.ContainsFunc(c.expect.IPs, func(e netip.Addr) bool { return e.Unmap() == ip }) {
			extra = append(extra, ip.String())
		}
	}
	haveText := joinAddrs(have)
	switch {
	case len(c.expect.IPs) == 0:
		c.add(CheckA, OK, "", "%s resolves to %s", c.host, haveText)
	case len(missing) > 0 && len(extra) > 0:
		c.add(CheckA, Problem, "publish "+strings.Join(missingLines, " and ")+
			"; if your DNS provider proxies the record (Cloudflare's orange cloud), set it to DNS only",
			"%s resolves to %s, not to %s", c.host, haveText, strings.Join(missing, ", "))
	case len(missing) > 0:
		c.add(CheckA, Problem, "publish "+strings.Join(missingLines, " and "),
			"%s resolves to %s, but not to %s", c.host, haveText, strings.Join(missing, ", "))
	case len(extra) > 0:
		c.add(CheckA, Warning, fmt.Sprintf("remove the records for %s unless that host also takes mail for %s", strings.Join(extra, ", "), c.domain),
			"%s resolves to %s, of which %s are not ours", c.host, haveText, strings.Join(extra, ", "))
	default:
		c.add(CheckA, OK, "", "%s resolves to %s", c.host, haveText)
	}
	return nil
}

func joinAddrs(ips []netip.Addr) string {
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = ip.String()
	}
	return strings.Join(s, ", ")
}

func (c *checker) ptr(ctx context.Context) error {
	for _, ip := range c.expect.IPs {
		fix := fmt.Sprintf("ask the provider of %s to set its PTR record to %s", ip, c.host)
		names, err := lookupAddr(ctx, c.q, ip.String())
		if fatal(err) {
			return err
		}
		if len(names) == 0 {
			c.add(CheckPTR, Warning, fix, "%s has no PTR record; many receivers distrust mail from such addresses", ip)
			continue
		}
		confirmed := ""
		for _, name := range names {
			addrs, err := lookupIPAddr(ctx, c.q, name)
			if fatal(err) {
				return err
			}
			for _, a := range addrs {
				if got, ok := netip.AddrFromSlice(a.IP); ok && got.Unmap() == ip.Unmap() {
					confirmed = strings.TrimSuffix(name, ".")
				}
			}
			if confirmed != "" {
				break
			}
		}
		name := strings.TrimSuffix(names[0], ".")
		switch {
		case confirmed == "":
			c.add(CheckPTR, Warning, fix+", or publish "+addrLine(name, ip),
				"%s has PTR %s, which does not resolve back to %s", ip, name, ip)
		default:
			c.add(CheckPTR, OK, "", "%s has PTR %s, which resolves back to it", ip, confirmed)
		}
	}
	return nil
}

// spfRecordText is the SPF record Check and Records suggest: only the
// domain's MX hosts send its mail.
func spfRecordText() string { return "v=spf1 mx -all" }

func (c *checker) spf(ctx context.Context) error {
	txts, err := lookupTXT(ctx, c.q, c.domain)
	if fatal(err) {
		return err
	}
	publish := fmt.Sprintf("%s. TXT %q", c.domain, spfRecordText())
	recs := matching(txts, isSPF)
	switch len(recs) {
	case 0:
		c.add(CheckSPF, Problem, "publish "+publish,
			"%s has no SPF record, so anyone can send mail as it", c.domain)
		return nil
	case 1:
	default:
		c.add(CheckSPF, Problem, "merge them into one record, such as "+publish,
			"%s has %d SPF records; every receiver treats that as permerror (RFC 7208 §4.5)", c.domain, len(recs))
		return nil
	}
	rec, err := parseSPF(recs[0])
	switch {
	case err != nil:
		c.add(CheckSPF, Problem, "correct the record, such as "+publish,
			"SPF record %q is invalid: %v (permerror, RFC 7208 §4.6)", recs[0], err)
	case rec.lookups > 10:
		c.add(CheckSPF, Problem, "use fewer include, a, mx, ptr, exists and redirect terms, or ip4/ip6 networks instead",
			"SPF record of %s needs %d DNS lookups, more than the 10 allowed (RFC 7208 §4.6.4)", c.domain, rec.lookups)
	case rec.all == "+":
		c.add(CheckSPF, Problem, "end the record with -all or ~all",
			"SPF record %q ends in +all: it lets any host send as %s", recs[0], c.domain)
	case rec.all == "" && !rec.hasRedirect, rec.all == "?":
		c.add(CheckSPF, Warning, "end the record with -all or ~all",
			"SPF record %q does not end in -all or ~all, so mail from other hosts is neutral", recs[0])
	default:
		c.add(CheckSPF, OK, "", "SPF record %q", recs[0])
	}
	return nil
}

// dmarcRecordText is the record Check and Records suggest.
func dmarcRecordText() string { return "v=DMARC1; p=quarantine" }

func (c *checker) dmarc(ctx context.Context) error {
	name := "_dmarc." + c.domain
	txts, err := lookupTXT(ctx, c.q, name)
	if fatal(err) {
		return err
	}
	publish := fmt.Sprintf("%s. TXT %q", name, dmarcRecordText())
	recs := matching(txts, isDMARC)
	switch len(recs) {
	case 0:
		c.add(CheckDMARC, Warning, "publish "+publish,
			"%s has no DMARC record, so receivers apply no policy to mail forged in its name", c.domain)
		return nil
	case 1:
	default:
		c.add(CheckDMARC, Problem, "keep one record, such as "+publish,
			"%s has %d DMARC records; receivers then apply none (RFC 7489 §6.6.3)", name, len(recs))
		return nil
	}
	policy, err := parseDMARC(recs[0])
	if err != nil {
		c.add(CheckDMARC, Problem, "correct the record, such as "+publish,
			"DMARC record %q is invalid: %v", recs[0], err)
		return nil
	}
	c.add(CheckDMARC, OK, "", "DMARC record %q (policy %s)", recs[0], policy)
	return nil
}

func (c *checker) dkim(ctx context.Context) error {
	for _, sel := range c.expect.DKIMSelectors {
		name := sel + "._domainkey." + c.domain
		fix := fmt.Sprintf("publish the public key your DKIM signer made for selector %s: %s. TXT \"v=DKIM1; k=rsa; p=...\"", sel, name)
		txts, err := lookupTXT(ctx, c.q, name)
		if fatal(err) {
			return err
		}
		switch len(txts) {
		case 0:
			c.add(CheckDKIM, Problem, fix, "%s has no DKIM key record", name)
			continue
		case 1:
		default:
			c.add(CheckDKIM, Problem, "keep one key record at "+name,
				"%s has %d TXT records; verifiers may pick any (RFC 6376 §3.6.2.2)", name, len(txts))
			continue
		}
		desc, err := parseDKIMKey(txts[0])
		if err != nil {
			c.add(CheckDKIM, Problem, fix, "DKIM key at %s is invalid: %v", name, err)
			continue
		}
		c.add(CheckDKIM, OK, "", "DKIM key at %s (%s)", name, desc)
	}
	return nil
}

// matching returns the records of txts that keep says to keep, in a new
// slice: txts may be shared with a cache.
func matching(txts []string, keep func(string) bool) []string {
	var recs []string
	for _, t := range txts {
		if keep(t) {
			recs = append(recs, t)
		}
	}
	return recs
}
