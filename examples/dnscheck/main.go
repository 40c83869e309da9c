// Command dnscheck tells whether a domain's DNS is ready for the domain to
// receive mail at your host, and what to publish when it is not.
//
// Run it from the repository's root:
//
//	go run ./examples/dnscheck -domain example.com -mx mx.example.com -ip 203.0.113.25,2001:db8::25
//	go run ./examples/dnscheck -domain example.com -mx mx.example.com -ip 203.0.113.25 -dkim mail -json
//	go run ./examples/dnscheck -domain example.com -mx mx.example.com -ip 203.0.113.25 -records
//	go run ./examples/dnscheck -domain example.com -mx mx.example.com -ip 203.0.113.25 -records -dkim-key dkim.pem -dkim-selector mail
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
//	-records       print the records to publish, ask nothing, and exit 0
//	-timeout D     how long to wait for each DNS reply (default 5s)
//
// The human output has one line per finding, marked [ok], [warning] or
// [problem], with the fix when one is known. The JSON output is
//
//	{"domain": "...", "ok": bool, "findings": [{"check": "mx|a|ptr|spf|dmarc|dkim",
//	  "severity": "ok|warning|problem", "message": "...", "fix": "..."}]}
//
// Exit status: 0 when no finding is a problem, 1 when one is, 2 for bad
// usage or when DNS could not be asked (a timeout, SERVFAIL), with a message
// on standard error saying which.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/ownmx/ownmx/auth"
	"github.com/ownmx/ownmx/dnsx"
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
}

// run is the program, with its arguments and output streams given, and
// returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "dnscheck: %v\n", err)
		fmt.Fprintln(stderr, "usage: dnscheck -domain D -mx HOST -ip IP[,IP] [-dns ADDR] [-dkim SEL[,SEL]] [-dkim-key FILE -dkim-selector SEL] [-json] [-records]")
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
		line := fmt.Sprintf("%-9s %-5s %s", "["+string(f.Severity)+"]", f.Check, f.Message)
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
