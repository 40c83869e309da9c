package auth_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ownmx/ownmx/auth"
	"github.com/ownmx/ownmx/dnsx"
	"github.com/ownmx/ownmx/dnsx/dnstest"
)

// The SPF test suites of the open-spf project, as shipped in the testdata of
// blitiri.com.ar/go/spf, the SPF library auth uses: the RFC 7208 suite and
// pyspf's own. They are read from the module cache at test time, not copied
// here. Each scenario's zone is served by a dnstest server on 127.0.0.1 and
// each case is checked with Checker.SPF through dnsx's own Client, so that
// the whole path of a real check is under test: DNS over UDP and TCP,
// multi-string TXT records, CNAMEs, timeouts.
var spfSuites = []string{"rfc7208-tests.yml", "pyspf-tests.yml"}

// notApplicable lists, by file and name, the cases that do not pass here,
// each with the reason. The spf library's own test skips every one of them
// (their "skip" field says so); every case it runs must pass. A listed case
// that passes, or that the library's test runs, fails the test, so that the
// list stays true.
var notApplicable = map[string]string{
	"rfc7208-tests.yml/non-ascii-policy":             naRecordBytes,
	"rfc7208-tests.yml/control-char-policy":          naRecordBytes,
	"rfc7208-tests.yml/spftimeout":                   naSPFType,
	"rfc7208-tests.yml/detect-errors-anywhere":       naLateSyntax,
	"rfc7208-tests.yml/redirect-is-modifier":         naLateSyntax,
	"rfc7208-tests.yml/bare-ip6":                     naLateSyntax,
	"rfc7208-tests.yml/unknown-modifier-syntax":      naLateSyntax,
	"rfc7208-tests.yml/redirect-syntax-error":        naLateSyntax,
	"rfc7208-tests.yml/redirect-empty-domain":        naLateSyntax,
	"rfc7208-tests.yml/invalid-domain":               naDomainSpec,
	"rfc7208-tests.yml/a-bad-domain":                 naDomainSpec,
	"rfc7208-tests.yml/a-null":                       naDomainSpec,
	"rfc7208-tests.yml/a-numeric":                    naDomainSpec,
	"rfc7208-tests.yml/a-numeric-toplabel":           naDomainSpec,
	"rfc7208-tests.yml/a-bad-toplabel":               naDomainSpec,
	"rfc7208-tests.yml/a-only-toplabel":              naDomainSpec,
	"rfc7208-tests.yml/a-only-toplabel-trailing-dot": naDomainSpec,
	"rfc7208-tests.yml/mx-bad-domain":                naDomainSpec,
	"rfc7208-tests.yml/mx-null":                      naDomainSpec,
	"rfc7208-tests.yml/mx-numeric-top-label":         naDomainSpec,
	"rfc7208-tests.yml/mx-bad-toplab":                naDomainSpec,
	"pyspf-tests.yml/baddomain":                      naDomainSpec,
	"rfc7208-tests.yml/a-colon-domain":               naSlash,
	"rfc7208-tests.yml/a-colon-domain-ip4mapped":     naSlash,
	"rfc7208-tests.yml/mx-colon-domain":              naSlash,
	"rfc7208-tests.yml/mx-colon-domain-ip4mapped":    naSlash,
	"rfc7208-tests.yml/cidr4-032": "the library takes a CIDR length with a " +
		"leading zero (/032), which the grammar of RFC 7208 §5.6 does not allow",
	"rfc7208-tests.yml/exp-empty-domain":    naExp,
	"rfc7208-tests.yml/exp-syntax-error":    naExp,
	"rfc7208-tests.yml/exp-twice":           naExp,
	"rfc7208-tests.yml/exp-only-macro-char": naExp,
	"rfc7208-tests.yml/p-macro-multiple": "the library does not implement the " +
		"%{p} macro, which RFC 7208 §7.3 advises against",
	"pyspf-tests.yml/default-modifier": naDefault,
	"pyspf-tests.yml/default-modifier-harsh": naDefault + "; its result, " +
		"\"ambiguous\", is not an SPF result",
}

// Reasons shared by several cases of notApplicable.
const (
	naRecordBytes = "the library does not refuse a record holding bytes " +
		"outside printable ASCII (RFC 7208 §3.1, §4.6.1): the term holding them " +
		"matches nothing and the record's -all decides"
	naSPFType = "dnstest's Timeout drops every query for the name, so the TXT " +
		"query times out too (temperror); the case wants only queries of type " +
		"SPF, which RFC 7208 §3.1 ended, to time out"
	naLateSyntax = "the library checks the syntax of a term only when it " +
		"evaluates it, and stops at the first match (or skips redirect= after " +
		"all); RFC 7208 §4.6 wants a syntax error anywhere to be permerror"
	naDomainSpec = "the library looks a mechanism's target up without checking " +
		"it against the domain-spec grammar of RFC 7208 §7.1 (toplabel, " +
		"characters): the name has no address and the mechanism does not match"
	naSlash = "the library reads the first \"/\" of a mechanism's target as " +
		"its CIDR length, so a name holding one, which RFC 7208 §7.1 allows, " +
		"is a bad mask (permerror)"
	naExp = "the library ignores exp= (RFC 7208 §6.2 makes the explanation " +
		"optional), its syntax and repetitions included"
	naDefault = "default= is an extension of pyspf's, not of RFC 7208, where " +
		"an unknown modifier is ignored (§6)"
)

// Timeouts of the clients: a query to a name the scenario makes time out is
// given up after clientTimeout, and the whole check after checkTimeout,
// much less than auth.DefaultTimeout, so that the suites run in seconds.
const (
	clientTimeout = time.Second
	checkTimeout  = 5 * time.Second
)

// TestRFC7208Suite runs the suites and counts the cases.
func TestRFC7208Suite(t *testing.T) {
	dir := spfModuleDir(t)
	for _, file := range spfSuites {
		t.Run(file, func(t *testing.T) {
			suites := readSPFSuites(t, filepath.Join(dir, "testdata", file))
			var total, passed, listed atomic.Int32
			for i, s := range suites {
				t.Run(fmt.Sprintf("%02d %s", i+1, s.title()), func(t *testing.T) {
					c := s.checker(t)
					for _, name := range s.caseNames() {
						tc := s.Tests[name]
						reason, isListed := notApplicable[file+"/"+name]
						if isListed && tc.Skip == "" {
							t.Errorf("%s is listed as not applicable (%s), but the spf library's own test runs it: it must pass", name, reason)
						}
						total.Add(1)
						t.Run(name, func(t *testing.T) {
							t.Parallel()
							got, ok := tc.run(t, c)
							switch {
							case isListed && ok:
								t.Errorf("listed as not applicable (%s), but gives %s as expected: take it off the list", reason, got.Result)
							case isListed:
								listed.Add(1)
							case ok:
								passed.Add(1)
							default:
								t.Errorf("result %s (%v), want %s; the case: %s", got.Result, got.Err,
									strings.Join(tc.Result, " or "), tc.about())
							}
						})
					}
				})
			}
			t.Logf("%s: %d cases, %d passed, %d not applicable", file, total.Load(), passed.Load(), listed.Load())
			if total.Load() == 0 {
				t.Errorf("%s holds no case", file)
			}
		})
	}
	for key := range notApplicable {
		file, _, _ := strings.Cut(key, "/")
		if !slices.Contains(spfSuites, file) {
			t.Errorf("notApplicable names %s, which is in no suite run", key)
		}
	}
}

// spfModuleDir returns the directory of blitiri.com.ar/go/spf in the module
// cache, at the version this test is built with. It fails the test when it
// cannot be found: the suite is part of the tests, not an option.
func spfModuleDir(t *testing.T) string {
	t.Helper()
	const module = "blitiri.com.ar/go/spf"
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("finding the go command to locate %s: %v", module, err)
	}
	out, err := exec.Command(goCmd, "list", "-m", "-f", "{{.Dir}}", module).Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		err = fmt.Errorf("%w: %s", err, ee.Stderr)
	}
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Fatalf("go list -m %s: %q, %v", module, dir, err)
	}
	// The suites must be those of the library under test.
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == module && dep.Replace == nil && !strings.HasSuffix(dir, "@"+dep.Version) {
				t.Fatalf("%s is built at %s, but go list finds it in %s", module, dep.Version, dir)
			}
		}
	}
	return dir
}

// spfSuite is one YAML document of a suite file: cases and the DNS zone they
// run against.
type spfSuite struct {
	Description string
	Comment     string
	Tests       map[string]spfCase
	ZoneData    map[string][]spfRecord `yaml:"zonedata"`
}

// spfCase is one check and the results it may give.
type spfCase struct {
	Description string
	Comment     string
	Spec        wordList
	Helo        string
	Host        string
	MailFrom    string `yaml:"mailfrom"`
	Result      wordList
	Explanation string
	Skip        string
	// Fields of pyspf's own cases, about its Received-SPF header and
	// options, which do not concern the result.
	Receiver string
	Header   string
	Strict   string
}

// spfRecord is one item of a domain's zone data: one record (A, AAAA, MX,
// SPF, TXT, PTR, CNAME) or one failure (TIMEOUT, SERVFAIL, CNAMELOOP).
type spfRecord struct {
	A     wordList   `yaml:"A"`
	AAAA  wordList   `yaml:"AAAA"`
	PTR   wordList   `yaml:"PTR"`
	CNAME string     `yaml:"CNAME"`
	MX    *[2]string `yaml:"MX"` // preference and host
	// TXT and SPF hold the character-strings of one record; "TXT: NONE"
	// says the name has no TXT record, even if it has SPF records.
	TXT       *wordList `yaml:"TXT"`
	SPF       *wordList `yaml:"SPF"`
	TIMEOUT   bool      `yaml:"TIMEOUT"`
	SERVFAIL  bool      `yaml:"SERVFAIL"`
	CNAMELOOP bool      `yaml:"CNAMELOOP"`
}

// wordList is a YAML value that is a single string or a sequence of them.
type wordList []string

func (w *wordList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*w = wordList{n.Value}
		return nil
	}
	var list []string
	if err := n.Decode(&list); err != nil {
		return err
	}
	*w = list
	return nil
}

// readSPFSuites reads every document of the suite file at path.
func readSPFSuites(t *testing.T, path string) []spfSuite {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("the SPF test suite: %v", err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	var suites []spfSuite
	for {
		var s spfSuite
		err := dec.Decode(&s)
		if errors.Is(err, io.EOF) {
			return suites
		}
		if err != nil {
			t.Fatalf("%s, document %d: %v", path, len(suites)+1, err)
		}
		suites = append(suites, s)
	}
}

func (s *spfSuite) title() string {
	if s.Description != "" {
		return s.Description
	}
	return strings.SplitN(strings.TrimSpace(s.Comment), "\n", 2)[0]
}

func (s *spfSuite) caseNames() []string {
	names := make([]string, 0, len(s.Tests))
	for name := range s.Tests {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// checker starts a dnstest server for the suite's zone and returns a
// Checker that asks it through a dnsx Client.
func (s *spfSuite) checker(t *testing.T) *auth.Checker {
	t.Helper()
	zone, timeouts, servfails := s.zone(t)
	srv := dnstest.NewServer(t, zone)
	for _, name := range timeouts {
		srv.Timeout(name)
	}
	for _, name := range servfails {
		srv.ServFail(name)
	}
	r := dnsx.NewResolver(srv.Addr)
	r.Timeout, r.Attempts = clientTimeout, 1
	return &auth.Checker{
		Resolver: r,
		Timeout:  checkTimeout,
		Logger:   slog.New(slog.DiscardHandler),
	}
}

// zone writes the suite's zone data as master file text (RFC 1035 §5),
// and returns the names made to time out or fail.
func (s *spfSuite) zone(t *testing.T) (zone string, timeouts, servfails []string) {
	t.Helper()
	var b strings.Builder
	domains := make([]string, 0, len(s.ZoneData))
	for d := range s.ZoneData {
		domains = append(domains, d)
	}
	slices.Sort(domains)
	for _, domain := range domains {
		owner := zoneName(domain)
		records := s.ZoneData[domain]
		noTXT := false
		var txts, spfs [][]string
		for _, r := range records {
			if r.TXT != nil {
				if len(*r.TXT) == 1 && (*r.TXT)[0] == "NONE" {
					noTXT = true
				} else {
					txts = append(txts, *r.TXT)
				}
			}
			if r.SPF != nil {
				spfs = append(spfs, *r.SPF)
			}
		}
		// The suites give most policies as SPF records and expect them to
		// be published as TXT too, unless the name has TXT records of its
		// own or is said to have none. RFC 7208 §3.1: only TXT is asked.
		if len(txts) == 0 && !noTXT {
			txts = spfs
		}
		for _, txt := range txts {
			fmt.Fprintf(&b, "%s TXT %s\n", owner, zoneStrings(txt))
		}
		for _, txt := range spfs {
			fmt.Fprintf(&b, "%s SPF %s\n", owner, zoneStrings(txt))
		}
		for _, r := range records {
			for _, a := range r.A {
				fmt.Fprintf(&b, "%s A %s\n", owner, a)
			}
			for _, a := range r.AAAA {
				fmt.Fprintf(&b, "%s AAAA %s\n", owner, a)
			}
			for _, p := range r.PTR {
				fmt.Fprintf(&b, "%s PTR %s\n", owner, zoneName(p))
			}
			if r.MX != nil {
				fmt.Fprintf(&b, "%s MX %s %s\n", owner, r.MX[0], zoneName(r.MX[1]))
			}
			if r.CNAME != "" {
				fmt.Fprintf(&b, "%s CNAME %s\n", owner, zoneName(r.CNAME))
			}
			if r.CNAMELOOP {
				// A real loop: the name is an alias of itself.
				fmt.Fprintf(&b, "%s CNAME %s\n", owner, owner)
			}
			if r.TIMEOUT {
				timeouts = append(timeouts, domain)
			}
			if r.SERVFAIL {
				servfails = append(servfails, domain)
			}
		}
	}
	return b.String(), timeouts, servfails
}

// zoneName writes a domain name of the suite as an absolute name in a
// master file, with every byte that is not a letter, digit, hyphen,
// underscore or dot escaped as \DDD (RFC 1035 §5.1). An empty name is the
// root.
func zoneName(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "\\%03d", c)
		}
	}
	if !strings.HasSuffix(name, ".") {
		b.WriteByte('.')
	}
	return b.String()
}

// zoneStrings writes the character-strings of one TXT record as quoted
// master file strings, a string longer than 255 bytes split as its
// publisher would have to (RFC 1035 §3.3.14), and none written as one
// empty string, the least a record holds.
func zoneStrings(parts []string) string {
	var out []string
	for _, p := range parts {
		for len(p) > 255 {
			out = append(out, zoneString(p[:255]))
			p = p[255:]
		}
		out = append(out, zoneString(p))
	}
	if len(out) == 0 {
		out = append(out, `""`)
	}
	return strings.Join(out, " ")
}

// zoneString quotes s, escaping quotes, backslashes and bytes that are not
// printable ASCII as \DDD.
func zoneString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' || c == '"' || c == '\\' {
			fmt.Fprintf(&b, "\\%03d", c)
		} else {
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// about says what the case checks, in one line.
func (tc *spfCase) about() string {
	s := strings.Join(strings.Fields(tc.Description+" "+tc.Comment), " ")
	if len(tc.Spec) > 0 {
		s += " (RFC 7208 §" + strings.Join(tc.Spec, ", §") + ")"
	}
	return s
}

// run checks the case with c and reports whether the result is one of
// those the case allows.
func (tc *spfCase) run(t *testing.T, c *auth.Checker) (auth.SPFResult, bool) {
	ip, err := netip.ParseAddr(tc.Host)
	if err != nil {
		t.Fatalf("host %q: %v", tc.Host, err)
	}
	got := c.SPF(t.Context(), ip, tc.Helo, tc.MailFrom)
	return got, slices.Contains(tc.Result, string(got.Result))
}
