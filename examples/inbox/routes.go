package main

import (
	"bufio"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ownmx/ownmx/smtpd"
)

// The routes file format (-routes FILE) is documented in the package doc,
// under "# Routes".

// routeLine is one line of a routes file.
type routeLine struct {
	line    int    // line number, from 1
	pattern string // the recipient pattern
	action  string // "maildir", "webhook", "forward" or "drop"
	url     string // a webhook's URL
	target  string // a forward's address
	junk    bool   // a forward of quarantined mail too
	secrets []string
	raw     bool
	sync    bool
	timeout time.Duration
}

// readRoutesFile reads and parses the routes file at path.
func readRoutesFile(path string) ([]routeLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("-routes: %w", err)
	}
	defer f.Close()
	routes, err := parseRoutes(f)
	if err != nil {
		return nil, fmt.Errorf("-routes %s:%w", path, err)
	}
	return routes, nil
}

// parseRoutes parses a routes file. Errors start with the line number.
func parseRoutes(r io.Reader) ([]routeLine, error) {
	var routes []routeLine
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		rl, err := parseRouteLine(n, strings.Fields(text))
		if err != nil {
			return nil, fmt.Errorf("%d: %w", n, err)
		}
		routes = append(routes, rl)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%d: %w", n+1, err)
	}
	if len(routes) == 0 {
		return nil, fmt.Errorf("%d: no route: every recipient would be refused", max(n, 1))
	}
	return routes, nil
}

// parseRouteLine parses the words of one route.
func parseRouteLine(n int, words []string) (routeLine, error) {
	rl := routeLine{line: n, pattern: words[0]}
	if len(words) < 2 {
		return rl, fmt.Errorf("route %q has no action: want maildir, webhook URL, forward ADDRESS or drop", rl.pattern)
	}
	rl.action = words[1]
	opts := words[2:]
	switch rl.action {
	case "maildir", "drop":
		if len(opts) > 0 {
			return rl, fmt.Errorf("%s takes no options, got %q", rl.action, strings.Join(opts, " "))
		}
		return rl, nil
	case "forward":
		return parseForward(rl, opts)
	case "webhook":
	default:
		return rl, fmt.Errorf("unknown action %q: want maildir, webhook URL, forward ADDRESS or drop", rl.action)
	}
	if len(opts) == 0 {
		return rl, fmt.Errorf("webhook needs a URL, such as https://app.example.com/hooks/mail")
	}
	rl.url, opts = opts[0], opts[1:]
	u, err := url.Parse(rl.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return rl, fmt.Errorf("webhook URL %q: want an http:// or https:// URL with a host", rl.url)
	}
	for _, o := range opts {
		key, val, hasVal := strings.Cut(o, "=")
		switch {
		case key == "secret" && hasVal:
			if !strings.HasPrefix(val, "whsec_") {
				return rl, fmt.Errorf("secret must start with whsec_ (a Standard Webhooks secret)")
			}
			rl.secrets = append(rl.secrets, val)
		case key == "raw" && !hasVal:
			rl.raw = true
		case key == "sync" && !hasVal:
			rl.sync = true
		case key == "timeout" && hasVal:
			d, err := time.ParseDuration(val)
			if err != nil || d <= 0 {
				return rl, fmt.Errorf("timeout=%s: want a positive duration such as 10s", val)
			}
			rl.timeout = d
		default:
			return rl, fmt.Errorf("unknown webhook option %q: want secret=whsec_..., raw, sync or timeout=DURATION", o)
		}
	}
	return rl, nil
}

// parseForward parses the options of a forward: its address, then junk.
func parseForward(rl routeLine, opts []string) (routeLine, error) {
	if len(opts) == 0 {
		return rl, fmt.Errorf("forward needs an address, such as me@mail.example")
	}
	rl.target, opts = opts[0], opts[1:]
	if err := checkForwardAddress(rl.target); err != nil {
		return rl, err
	}
	for _, o := range opts {
		if o != "junk" {
			return rl, fmt.Errorf("unknown forward option %q: want junk (forward quarantined mail too)", o)
		}
		rl.junk = true
	}
	return rl, nil
}

// checkForwardAddress reports why addr cannot be a forward's address.
func checkForwardAddress(addr string) error {
	local, domain, ok := smtpd.SplitAddress(addr)
	if !ok || local == "" || domain == "" || strings.ContainsAny(addr, " <>\t") {
		return fmt.Errorf("forward address %q: want an address such as me@mail.example", addr)
	}
	a, err := smtpd.ToASCII(strings.TrimSuffix(domain, "."))
	if err != nil {
		return fmt.Errorf("forward address %q: domain: %v", addr, err)
	}
	for label := range strings.SplitSeq(a, ".") {
		if label == "" || len(label) > 63 || strings.Trim(label, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("forward address %q: domain %q is not a host name", addr, domain)
		}
	}
	return nil
}
