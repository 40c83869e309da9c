// Command dnscheck tells whether a domain's DNS is ready for the domain to
// receive mail at your host, and what to publish when it is not.
//
// Run it from the repository's root:
//
//	go run ./examples/dnscheck -domain example.com -mx mx.example.com -ip 203.0.113.25,2001:db8::25
//	go run ./examples/dnscheck -domain example.com -mx mx.example.com -ip 203.0.113.25 -dkim mail -json
//	go run ./examples/dnscheck -domain example.com -mx mx.example.com -ip 203.0.113.25 -records
//	go run ./examples/dnscheck -domain example.com -mx mx.example.com -ip 203.0.113.25 -records -dkim-key dkim.pem -dkim-selector mail
//	go run ./examples/dnscheck -domain example.com -mx mx.example.com -ip 203.0.113.25 -mta-sts -tls-rpt
//
// Flags:
//
//	-domain D      the domain that receives mail (required)
//	-mx HOST       the host name of your mail exchanger (required)
//	-ip IP[,IP]    the public addresses of HOST (required)
//	-dns ADDR      the nameserver to ask, host:port (default: the first in /etc/resolv.conf)
//	-dkim SEL[,SEL] DKIM selectors whose keys should be published
//	-dkim-key FILE the PEM private key that signs the domain's mail (openssl
//	               genrsa 2048, or openssl genpkey -algorithm ed25519); with
//	               -records, its DKIM record is among those printed
//	-dkim-selector SEL the selector of -dkim-key's record, published at
//	               SEL._domainkey.D; without -records, SEL is checked like
//	               the -dkim selectors
//	-json          print the report as JSON
//	-mta-sts       also check the domain's MTA-STS record (RFC 8461) and
//	               the policy it serves at https://mta-sts.D/.well-known/mta-sts.txt,
//	               fetched now: its mode, whether its mx lines cover the MX
//	               hosts, its max_age
//	-mta-sts-mode M the mode of the policy printed to publish: testing
//	               (default: senders report failures but deliver anyway) or
//	               enforce (once TLS-RPT reports are clean)
//	-tls-rpt       also check the domain's TLS-RPT record (RFC 8460) at
//	               _smtp._tls.D
//	-tls-rpt-rua URI where the printed TLS-RPT record asks for reports
//	               (default mailto:tlsrpt@D)
//	-records       print the records to publish, ask nothing, and exit 0
//	-timeout D     how long to wait for each DNS reply (default 5s)
//
// With -mta-sts or -tls-rpt, when a record they check is missing or wrong,
// the human output ends with the records to publish (mtasts.Records): the
// "_mta-sts" and "_smtp._tls" TXT records, the address records of
// mta-sts.D (the -ip addresses: examples/inbox serves the policy itself)
// and the policy file. -records prints them with the others.
//
// The human output has one line per finding, marked [ok], [warning] or
// [problem], with the fix when one is known. The JSON output is
//
//	{"domain": "...", "ok": bool, "findings": [{"check": "mx|a|ptr|spf|dmarc|dkim|mta-sts|tls-rpt",
//	  "severity": "ok|warning|problem", "message": "...", "fix": "..."}]}
//
// Exit status: 0 when no finding is a problem, 1 when one is, 2 for bad
// usage or when DNS could not be asked (a timeout, SERVFAIL), with a message
// on standard error saying which.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/ownmx/ownmx/auth"
	"github.com/ownmx/ownmx/dnsx"
	"github.com/ownmx/ownmx/mtasts"
	"github.com/ownmx/ownmx/tlsrpt"
)

// Exit statuses.
const (
	exitOK      = 0
	exitProblem = 1
	exitUsage   = 2 // also: DNS could not be asked
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// options are the parsed command line.
type options struct {
	domain, mx, dns string
	ips             []netip.Addr
	dkim            []string
	dkimSelector    string
	dkimRecord      string // the DKIM TXT record of -dkim-key, or ""
	json, records   bool
	timeout         time.Duration
	mtaSTS, tlsRPT  bool
	mtaSTSMode      mtasts.Mode
	rua             string // the rua of the TLS-RPT record to publish
}

// policyFetchTimeout bounds the fetch of the served policy.
const policyFetchTimeout = 30 * time.Second

// run is the program, with its arguments and output streams given, and
// returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runWith(ctx, args, stdout, stderr, nil)
}

// runWith is run with the HTTP client that fetches MTA-STS policies; nil
// means mtasts' default, which finds the policy host with the -dns
// nameserver. Tests give one that reaches a server on loopback.
func runWith(ctx context.Context, args []string, stdout, stderr io.Writer, policyClient *http.Client) int {
	opts, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "dnscheck: %v\n", err)
		fmt.Fprintln(stderr, "usage: dnscheck -domain D -mx HOST -ip IP[,IP] [-dns ADDR] [-dkim SEL[,SEL]] [-dkim-key FILE -dkim-selector SEL] [-mta-sts [-mta-sts-mode testing|enforce]] [-tls-rpt [-tls-rpt-rua URI]] [-json] [-records]")
		return exitUsage
	}

	if opts.records {
		recs := dnsx.Records(opts.domain, opts.mx, opts.ips)
		if opts.dkimRecord != "" {
			recs = append(recs, dnsx.Record{
				Type:    "TXT",
				Name:    opts.dkimSelector + "._domainkey." + strings.TrimSuffix(strings.ToLower(opts.domain), "."),
				Content: opts.dkimRecord,
			})
		}
		stsRecs, _, err := stsRecords(opts)
		if err != nil {
			fmt.Fprintf(stderr, "dnscheck: %v\n", err)
			return exitUsage
		}
		recs = append(recs, stsRecs...)
		if opts.json {
			return writeJSON(stdout, stderr, recs, exitOK)
		}
		if err := dnsx.WriteRecords(stdout, recs); err != nil {
			fmt.Fprintf(stderr, "dnscheck: %v\n", err)
			return exitUsage
		}
		return exitOK
	}

	q, err := querier(opts)
	if err != nil {
		fmt.Fprintf(stderr, "dnscheck: %v\n", err)
		return exitUsage
	}
	rep, err := dnsx.Check(ctx, q, opts.domain, dnsx.Expect{
		MXHost:        opts.mx,
		IPs:           opts.ips,
		DKIMSelectors: opts.dkim,
		Extra:         extraChecks(opts, q, policyClient),
	})
	if err != nil {
		if dnsx.IsTemporary(err) {
			fmt.Fprintf(stderr, "dnscheck: DNS could not be asked, try again later: %v\n", err)
		} else {
			fmt.Fprintf(stderr, "dnscheck: %v\n", err)
		}
		return exitUsage
	}
	status := exitOK
	if !rep.OK {
		status = exitProblem
	}
	if opts.json {
		return writeJSON(stdout, stderr, rep, status)
	}
	writeText(stdout, rep, opts.mx)
	if err := writeMissing(stdout, rep, opts); err != nil {
		fmt.Fprintf(stderr, "dnscheck: %v\n", err)
		return exitUsage
	}
	return status
}

// parseArgs reads the flags and checks that they make sense.
func parseArgs(args []string, stderr io.Writer) (options, error) {
	var opts options
	var ips, dkim, dkimKey string
	fs := flag.NewFlagSet("dnscheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&opts.domain, "domain", "", "the `domain` that receives mail")
	fs.StringVar(&opts.mx, "mx", "", "the `host` name of your mail exchanger")
	fs.StringVar(&ips, "ip", "", "the public addresses of the mail exchanger, comma-separated")
	fs.StringVar(&opts.dns, "dns", "", "the nameserver to ask, host:port (default: the first in /etc/resolv.conf)")
	fs.StringVar(&dkim, "dkim", "", "DKIM `selectors` whose keys should be published, comma-separated")
	fs.StringVar(&dkimKey, "dkim-key", "", "the PEM private key `file` that signs the domain's mail; -records prints its DKIM record")
	fs.StringVar(&opts.dkimSelector, "dkim-selector", "", "the `selector` of -dkim-key's record")
	fs.BoolVar(&opts.json, "json", false, "print the report as JSON")
	fs.BoolVar(&opts.records, "records", false, "print the records to publish and exit")
	fs.BoolVar(&opts.mtaSTS, "mta-sts", false, "also check the MTA-STS record and the policy served (RFC 8461)")
	fs.BoolVar(&opts.tlsRPT, "tls-rpt", false, "also check the TLS-RPT record (RFC 8460)")
	mode := fs.String("mta-sts-mode", "testing", "the `mode` of the MTA-STS policy to publish: testing or enforce")
	fs.StringVar(&opts.rua, "tls-rpt-rua", "", "the `URI` the TLS-RPT record to publish asks for reports at (default mailto:tlsrpt@D)")
	fs.DurationVar(&opts.timeout, "timeout", 5*time.Second, "how long to wait for each DNS reply")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return opts, err
		}
		return opts, errors.New("bad flags")
	}
	switch {
	case fs.NArg() > 0:
		return opts, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case opts.domain == "":
		return opts, errors.New("-domain is required")
	case opts.mx == "":
		return opts, errors.New("-mx is required")
	case ips == "":
		return opts, errors.New("-ip is required")
	case opts.timeout <= 0:
		return opts, fmt.Errorf("-timeout %v is not positive", opts.timeout)
	case dkimKey != "" && opts.dkimSelector == "":
		return opts, errors.New("-dkim-key needs -dkim-selector")
	case dkimKey == "" && opts.dkimSelector != "":
		return opts, errors.New("-dkim-selector needs -dkim-key")
	case *mode != string(mtasts.Testing) && *mode != string(mtasts.Enforce):
		return opts, fmt.Errorf("-mta-sts-mode %q is not testing or enforce", *mode)
	}
	opts.mtaSTSMode = mtasts.Mode(*mode)
	if opts.rua == "" {
		opts.rua = "mailto:tlsrpt@" + strings.TrimSuffix(strings.ToLower(opts.domain), ".")
	}
	if opts.tlsRPT {
		if _, err := tlsrpt.ParseRecord("v=TLSRPTv1; rua=" + opts.rua); err != nil {
			return opts, fmt.Errorf("-tls-rpt-rua %q is not a mailto: or https: URI for reports", opts.rua)
		}
	}
	for _, s := range strings.Split(ips, ",") {
		ip, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil || ip.Zone() != "" {
			return opts, fmt.Errorf("-ip: %q is not an IP address", s)
		}
		opts.ips = append(opts.ips, ip.Unmap())
	}
	for _, s := range strings.Split(dkim, ",") {
		if s = strings.TrimSpace(s); s != "" {
			opts.dkim = append(opts.dkim, s)
		}
	}
	if dkimKey != "" {
		if !isSelector(opts.dkimSelector) {
			return opts, fmt.Errorf("-dkim-selector %q is not a selector: labels of letters, digits and hyphens (RFC 6376 §3.1)", opts.dkimSelector)
		}
		rec, err := dkimRecord(dkimKey)
		if err != nil {
			return opts, err
		}
		opts.dkimRecord = rec
		if !slices.Contains(opts.dkim, opts.dkimSelector) {
			opts.dkim = append(opts.dkim, opts.dkimSelector)
		}
	}
	return opts, nil
}

// dkimRecord reads the private key in file and returns the DKIM record of
// its public half.
func dkimRecord(file string) (string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("-dkim-key: %v", err)
	}
	key, err := auth.ParseSigningKey(data)
	if err != nil {
		return "", fmt.Errorf("-dkim-key %s: %v", file, err)
	}
	rec, err := auth.DKIMKeyRecord(key.Public())
	if err != nil {
		return "", fmt.Errorf("-dkim-key %s: %v", file, err)
	}
	return rec, nil
}

// isSelector reports whether s is a DKIM selector: dot-separated labels
// of letters, digits and hyphens (RFC 6376 §3.1), none over 63 octets.
func isSelector(s string) bool {
	if s == "" {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// querier returns what Check asks: a cache in front of the nameserver given
// with -dns, or else the first one in /etc/resolv.conf.
func querier(opts options) (dnsx.Querier, error) {
	server := opts.dns
	if server == "" {
		conf, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil || len(conf.Servers) == 0 {
			return nil, fmt.Errorf("no nameserver in /etc/resolv.conf (%v); give one with -dns", err)
		}
		server = net.JoinHostPort(conf.Servers[0], conf.Port)
	}
	c := dnsx.NewResolver(server)
	c.Timeout = opts.timeout
	return dnsx.NewCache(c, 0), nil
}

// writeJSON prints v as indented JSON and returns status, or exitUsage if
// it could not be written.
func writeJSON(stdout, stderr io.Writer, v any, status int) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(stderr, "dnscheck: %v\n", err)
		return exitUsage
	}
	return status
}

// writeText prints one line per finding and a summary.
func writeText(w io.Writer, rep *dnsx.Report, host string) {
	var problems, warnings int
	for _, f := range rep.Findings {
		line := fmt.Sprintf("%-9s %-7s %s", "["+string(f.Severity)+"]", f.Check, f.Message)
		if f.Fix != "" {
			line += " -- fix: " + f.Fix
		}
		fmt.Fprintln(w, line)
		switch f.Severity {
		case dnsx.Problem:
			problems++
		case dnsx.Warning:
			warnings++
		}
	}
	switch {
	case problems > 0 && warnings > 0:
		fmt.Fprintf(w, "%s is not ready to receive mail at %s: %s, %s\n", rep.Domain, host,
			plural(problems, "problem"), plural(warnings, "warning"))
	case problems > 0:
		fmt.Fprintf(w, "%s is not ready to receive mail at %s: %s\n", rep.Domain, host, plural(problems, "problem"))
	case warnings > 0:
		fmt.Fprintf(w, "%s is ready to receive mail at %s, with %s\n", rep.Domain, host, plural(warnings, "warning"))
	default:
		fmt.Fprintf(w, "%s is ready to receive mail at %s\n", rep.Domain, host)
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// extraChecks are the checks of -mta-sts and -tls-rpt, run inside
// dnsx.Check through Expect.Extra. The resolver is q, the cache Check
// asks: it answers the lookups of both and, for policyClient nil, finds
// the policy host.
func extraChecks(opts options, q dnsx.Querier, policyClient *http.Client) []dnsx.CheckFunc {
	resolver, _ := q.(dnsx.Resolver)
	var checks []dnsx.CheckFunc
	if opts.mtaSTS {
		f := &mtasts.Fetcher{Resolver: resolver, Client: policyClient, FetchTimeout: policyFetchTimeout}
		checks = append(checks, func(ctx context.Context, domain string, mxHosts []string) ([]dnsx.Finding, error) {
			return mtasts.CheckPolicy(ctx, f, domain, mxHosts)
		})
	}
	if opts.tlsRPT {
		checks = append(checks, func(ctx context.Context, domain string, _ []string) ([]dnsx.Finding, error) {
			return tlsrpt.CheckDomain(ctx, resolver, domain)
		})
	}
	return checks
}

// stsRecords returns the records of -mta-sts and -tls-rpt to publish
// (mtasts.Records), and the policy file to serve: a policy in
// -mta-sts-mode naming the -mx host.
func stsRecords(opts options) ([]dnsx.Record, []byte, error) {
	if !opts.mtaSTS && !opts.tlsRPT {
		return nil, nil, nil
	}
	p := &mtasts.Policy{Mode: opts.mtaSTSMode, MX: []string{strings.TrimSuffix(strings.ToLower(opts.mx), ".")}, MaxAge: mtasts.DefaultMaxAge} // as examples/inbox serves it by default
	rua := ""
	if opts.tlsRPT {
		rua = opts.rua
	}
	recs, err := mtasts.Records(opts.domain, p, opts.ips, rua)
	if err != nil {
		return nil, nil, err
	}
	if !opts.mtaSTS {
		// Only the TLS-RPT record, the last.
		return recs[len(recs)-1:], nil, nil
	}
	text, err := p.MarshalText()
	if err != nil {
		return nil, nil, err
	}
	return recs, text, nil
}

// writeMissing prints, after the findings, the records of -mta-sts and
// -tls-rpt to publish when a finding of theirs is not ok.
func writeMissing(w io.Writer, rep *dnsx.Report, opts options) error {
	missing := false
	for _, f := range rep.Findings {
		if (f.Check == mtasts.CheckMTASTS || f.Check == tlsrpt.CheckName) && f.Severity != dnsx.OK {
			missing = true
		}
	}
	if !missing {
		return nil
	}
	recs, policy, err := stsRecords(opts)
	if err != nil {
		return err
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "; MTA-STS and TLS-RPT records to publish")
	if err := dnsx.WriteRecords(w, recs); err != nil {
		return err
	}
	if policy != nil {
		domain := strings.TrimSuffix(strings.ToLower(opts.domain), ".")
		fmt.Fprintf(w, "\n; the policy to serve at https://mta-sts.%s/.well-known/mta-sts.txt (examples/inbox serves it)\n", domain)
		_, err = w.Write(bytes.ReplaceAll(policy, []byte("\r\n"), []byte("\n")))
	}
	return err
}
