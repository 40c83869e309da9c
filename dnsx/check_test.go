package dnsx_test

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ownmx/ownmx/dnsx"
)

// rsaKey returns the base64 SubjectPublicKeyInfo of an RSA public key with
// a modulus of the given size. The key only has to parse, so its modulus is
// 2^(bits-1)+1 rather than a product of primes.
func rsaKey(t *testing.T, bits int) string {
	t.Helper()
	n := new(big.Int).Lsh(big.NewInt(1), uint(bits-1))
	n.Add(n, big.NewInt(1))
	der, err := x509.MarshalPKIXPublicKey(&rsa.PublicKey{N: n, E: 65537})
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

// checkZone is a domain set up correctly to receive at mx.example.com,
// 192.0.2.25 and 2001:db8::25, each line keyed so that a case can drop or
// replace it.
func checkZone(t *testing.T) map[string]string {
	ed := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))
	return map[string]string{
		"soa":     "example.com. 3600 IN SOA ns.example.com. hostmaster.example.com. 1 7200 900 1209600 300",
		"mx":      "example.com. IN MX 10 mx.example.com.",
		"a":       "mx.example.com. IN A 192.0.2.25",
		"aaaa":    "mx.example.com. IN AAAA 2001:db8::25",
		"out":     "out.example.com. IN A 192.0.2.25\nout.example.com. IN AAAA 2001:db8::25",
		"spf":     `example.com. IN TXT "v=spf1 mx -all"`,
		"other":   `example.com. IN TXT "google-site-verification=abc"`,
		"dmarc":   `_dmarc.example.com. IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@example.com"`,
		"dkim":    `ed._domainkey.example.com. IN TXT "v=DKIM1; k=ed25519; p=` + ed + `"`,
		"dkimrsa": `rsa._domainkey.example.com. IN TXT "v=DKIM1; k=rsa; p=` + rsaKey(t, 2048) + `"`,
		"rev4":    "2.0.192.in-addr.arpa. 3600 IN SOA ns.example.com. hostmaster.example.com. 1 7200 900 1209600 300",
		"ptr4":    "25.2.0.192.in-addr.arpa. IN PTR out.example.com.",
		"rev6":    "8.b.d.0.1.0.0.2.ip6.arpa. 3600 IN SOA ns.example.com. hostmaster.example.com. 1 7200 900 1209600 300",
		"ptr6":    "5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. IN PTR out.example.com.",
	}
}

var checkExpect = dnsx.Expect{
	MXHost:        "mx.example.com",
	IPs:           []netip.Addr{netip.MustParseAddr("192.0.2.25"), netip.MustParseAddr("2001:db8::25")},
	DKIMSelectors: []string{"ed", "rsa"},
}

// allOK is the severity of each finding for the correct domain.
var allOK = []string{"mx ok", "a ok", "ptr ok", "ptr ok", "spf ok", "dmarc ok", "dkim ok", "dkim ok"}

// with returns allOK with the findings of one check replaced.
func with(check string, sevs ...string) []string {
	var out []string
	done := false
	for _, f := range allOK {
		if !strings.HasPrefix(f, check+" ") {
			out = append(out, f)
			continue
		}
		if !done {
			for _, s := range sevs {
				out = append(out, check+" "+s)
			}
			done = true
		}
	}
	return out
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		change  map[string]string // keys of checkZone replaced; "" drops the line
		want    []string          // "check severity" of each finding
		wantOK  bool
		message string // a word the first non-ok finding's message holds
	}{
		{"correct domain", nil, allOK, true, ""},

		// RFC 5321 §5.1, RFC 7505, RFC 2181 §10.3, RFC 1035 §3.3.9.
		{"mx missing", map[string]string{"mx": ""}, with("mx", "problem"), false, "no MX"},
		{"mx null", map[string]string{"mx": "example.com. IN MX 0 ."}, with("mx", "problem"), false, "null MX"},
		{"mx elsewhere", map[string]string{"mx": "example.com. IN MX 10 mx.provider.net."}, with("mx", "problem"), false, "not to mx.example.com"},
		{"mx not first", map[string]string{"mx": "example.com. IN MX 20 mx.example.com.\nexample.com. IN MX 10 mx.provider.net."},
			with("mx", "warning"), true, "preference 20"},
		{"mx target is a CNAME", map[string]string{
			"a":    "mx.example.com. IN CNAME host.example.com.",
			"aaaa": "host.example.com. IN A 192.0.2.25\nhost.example.com. IN AAAA 2001:db8::25",
		}, with("mx", "ok", "problem"), false, "CNAME"},
		{"mx target is an address", map[string]string{"mx": "example.com. IN MX 10 mx.example.com.\nexample.com. IN MX 20 192.0.2.25."},
			with("mx", "ok", "problem"), false, "IP address"},

		// The MX host's addresses.
		{"a missing", map[string]string{"a": "", "aaaa": ""}, with("a", "problem"), false, "no A or AAAA"},
		{"a wrong (proxied)", map[string]string{"a": "mx.example.com. IN A 198.51.100.1", "aaaa": ""}, with("a", "problem"), false, "not to 192.0.2.25, 2001:db8::25"},
		{"a partly missing", map[string]string{"aaaa": ""}, with("a", "problem"), false, "but not to 2001:db8::25"},
		{"a extra", map[string]string{"aaaa": "mx.example.com. IN AAAA 2001:db8::25\nmx.example.com. IN A 198.51.100.1"},
			with("a", "warning"), true, "198.51.100.1 are not ours"},

		// Forward-confirmed reverse DNS.
		{"ptr missing", map[string]string{"ptr4": ""}, with("ptr", "warning", "ok"), true, "no PTR"},
		{"ptr not confirmed", map[string]string{"ptr6": "5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. IN PTR gone.example.org."},
			with("ptr", "ok", "warning"), true, "does not resolve back"},

		// RFC 7208.
		{"spf missing", map[string]string{"spf": ""}, with("spf", "problem"), false, "no SPF"},
		{"spf twice", map[string]string{"other": `example.com. IN TXT "v=spf1 a -all"`}, with("spf", "problem"), false, "2 SPF records"},
		{"spf invalid", map[string]string{"spf": `example.com. IN TXT "v=spf1 ip4:192.0.2.300 -all"`}, with("spf", "problem"), false, "invalid"},
		{"spf unknown mechanism", map[string]string{"spf": `example.com. IN TXT "v=spf1 mx foo -all"`}, with("spf", "problem"), false, "unknown mechanism"},
		{"spf +all", map[string]string{"spf": `example.com. IN TXT "v=spf1 mx +all"`}, with("spf", "problem"), false, "any host"},
		{"spf ?all", map[string]string{"spf": `example.com. IN TXT "v=spf1 mx ?all"`}, with("spf", "warning"), true, "does not end"},
		{"spf without all", map[string]string{"spf": `example.com. IN TXT "v=spf1 mx"`}, with("spf", "warning"), true, "does not end"},
		{"spf redirect", map[string]string{"spf": `example.com. IN TXT "v=spf1 redirect=_spf.example.com"`}, allOK, true, ""},
		{"spf softfail", map[string]string{"spf": `example.com. IN TXT "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a:out.example.com/24//64 ~all"`}, allOK, true, ""},
		{"spf too many lookups", map[string]string{"spf": `example.com. IN TXT "v=spf1 a mx ptr include:a.example include:b.example include:c.example include:d.example include:e.example include:f.example include:g.example exists:h.example -all"`},
			with("spf", "problem"), false, "11 DNS lookups"},

		// RFC 7489.
		{"dmarc missing", map[string]string{"dmarc": ""}, with("dmarc", "warning"), true, "no DMARC"},
		{"dmarc twice", map[string]string{"dmarc": `_dmarc.example.com. IN TXT "v=DMARC1; p=reject"` + "\n" + `_dmarc.example.com. IN TXT "v=DMARC1; p=none"`},
			with("dmarc", "problem"), false, "2 DMARC records"},
		{"dmarc bad policy", map[string]string{"dmarc": `_dmarc.example.com. IN TXT "v=DMARC1; p=maybe"`}, with("dmarc", "problem"), false, "p=maybe"},
		{"dmarc without policy", map[string]string{"dmarc": `_dmarc.example.com. IN TXT "v=DMARC1; rua=mailto:d@example.com"`}, with("dmarc", "problem"), false, "no p="},
		{"dmarc not first tag", map[string]string{"dmarc": `_dmarc.example.com. IN TXT "p=reject; v=DMARC1"`}, with("dmarc", "warning"), true, "no DMARC"},

		// RFC 6376 §3.6.1, RFC 8301 §3.2, RFC 8463.
		{"dkim missing", map[string]string{"dkim": ""}, with("dkim", "problem", "ok"), false, "no DKIM key"},
		{"dkim revoked", map[string]string{"dkim": `ed._domainkey.example.com. IN TXT "v=DKIM1; p="`}, with("dkim", "problem", "ok"), false, "revoked"},
		{"dkim not base64", map[string]string{"dkim": `ed._domainkey.example.com. IN TXT "v=DKIM1; k=ed25519; p=!!!"`}, with("dkim", "problem", "ok"), false, "base64"},
		{"dkim short rsa", map[string]string{"dkimrsa": `rsa._domainkey.example.com. IN TXT "v=DKIM1; p=` + rsaKey(t, 512) + `"`},
			with("dkim", "ok", "problem"), false, "512 bits"},
		{"dkim unknown type", map[string]string{"dkim": `ed._domainkey.example.com. IN TXT "v=DKIM1; k=dsa; p=AAAA"`}, with("dkim", "problem", "ok"), false, "k=dsa"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := checkZone(t)
			for k, v := range tt.change {
				if _, ok := lines[k]; !ok {
					t.Fatalf("no zone line %q", k)
				}
				lines[k] = v
			}
			var zone strings.Builder
			for _, k := range slices.Sorted(mapsKeys(lines)) {
				fmt.Fprintln(&zone, lines[k])
			}
			_, c := newClient(t, zone.String())
			rep, err := dnsx.Check(t.Context(), c, "Example.com.", checkExpect)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range rep.Findings {
				got = append(got, string(f.Check)+" "+string(f.Severity))
				if (f.Severity == dnsx.OK) != (f.Fix == "") {
					t.Errorf("finding %+v: a fix must come with, and only with, a warning or problem", f)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("findings %v\nwant       %v", got, tt.want)
			}
			if rep.OK != tt.wantOK || rep.Domain != "example.com" {
				t.Errorf("report OK %v domain %q, want %v example.com", rep.OK, rep.Domain, tt.wantOK)
			}
			for _, f := range rep.Findings {
				if f.Severity != dnsx.OK {
					if !strings.Contains(f.Message, tt.message) {
						t.Errorf("message %q does not say %q", f.Message, tt.message)
					}
					break
				}
			}
			if t.Failed() {
				for _, f := range rep.Findings {
					t.Logf("%+v", f)
				}
			}
		})
	}
}

func mapsKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// A temporary failure of any lookup makes Check fail rather than report a
// wrong finding.
func TestCheckTemporary(t *testing.T) {
	var zone strings.Builder
	for _, line := range checkZone(t) {
		fmt.Fprintln(&zone, line)
	}
	for _, tt := range []struct{ name, fail string }{
		{"mx", "example.com"},
		{"mx target", "mx.example.com"},
		{"ptr", "25.2.0.192.in-addr.arpa"},
		{"ptr name", "out.example.com"},
		{"dmarc", "_dmarc.example.com"},
		{"dkim", "rsa._domainkey.example.com"},
	} {
		for _, how := range []string{"servfail", "timeout"} {
			t.Run(tt.name+"/"+how, func(t *testing.T) {
				srv, c := newClient(t, zone.String())
				// Every other query must be answered within the timeout,
				// or the error names another name: generous for
				// servfail, which does not wait; half a second when the
				// test waits it out, so a loaded machine (-race, other
				// tests) does not time out a query that was answered.
				if how == "servfail" {
					srv.ServFail(tt.fail)
					c.Timeout = 5 * time.Second
				} else {
					srv.Timeout(tt.fail)
					c.Timeout = 500 * time.Millisecond
				}
				rep, err := dnsx.Check(t.Context(), c, "example.com", checkExpect)
				if !dnsx.IsTemporary(err) || rep != nil {
					t.Fatalf("Check = %v, %v; want a temporary error", rep, err)
				}
				if !strings.Contains(err.Error(), tt.fail) {
					t.Errorf("error %q does not name %s", err, tt.fail)
				}
			})
		}
	}
}

func TestCheckBadInput(t *testing.T) {
	_, c := newClient(t, "")
	for _, tt := range []struct{ domain, host string }{
		{"", "mx.example.com"},
		{"exa mple.com", "mx.example.com"},
		{"example.com", ""},
	} {
		_, err := dnsx.Check(t.Context(), c, tt.domain, dnsx.Expect{MXHost: tt.host})
		if err == nil || dnsx.IsTemporary(err) || errors.Is(err, dnsx.ErrNullMX) {
			t.Errorf("Check(%q, %q) = %v, want a usage error", tt.domain, tt.host, err)
		}
	}
}

// Without expected addresses, the a check only asks that the host resolve,
// and ptr has nothing to check.
func TestCheckNoIPs(t *testing.T) {
	var zone strings.Builder
	for _, line := range checkZone(t) {
		fmt.Fprintln(&zone, line)
	}
	_, c := newClient(t, zone.String())
	rep, err := dnsx.Check(t.Context(), c, "example.com", dnsx.Expect{MXHost: "mx.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range rep.Findings {
		got = append(got, f.Check+" "+string(f.Severity))
	}
	if want := []string{"mx ok", "a ok", "spf ok", "dmarc ok"}; !slices.Equal(got, want) || !rep.OK {
		t.Errorf("findings %v, want %v", got, want)
	}
}

// RFC 1035 §4.1.1: a domain that does not exist is told apart from one
// without MX records.
func TestCheckNoDomain(t *testing.T) {
	var zone strings.Builder
	for _, line := range checkZone(t) {
		fmt.Fprintln(&zone, line)
	}
	_, c := newClient(t, zone.String())
	rep, err := dnsx.Check(t.Context(), c, "gone.example.com", checkExpect)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range rep.Findings {
		got = append(got, f.Check+" "+string(f.Severity))
	}
	want := []string{"mx problem", "a ok", "ptr ok", "ptr ok", "spf problem", "dmarc warning", "dkim problem", "dkim problem"}
	if !slices.Equal(got, want) || rep.OK {
		t.Errorf("findings %v, want %v", got, want)
	}
	if msg := rep.Findings[0].Message; msg != "gone.example.com does not exist in DNS (NXDOMAIN)" {
		t.Errorf("mx message %q", msg)
	}
}

// Expect.Extra checks run after Check's own, with the domain and its MX
// hosts; their findings join the report and count for OK, and their error
// is Check's.
func TestCheckExtra(t *testing.T) {
	var zone strings.Builder
	for k, line := range checkZone(t) {
		if k == "mx" {
			line = "example.com. IN MX 20 Backup.Example.NET.\nexample.com. IN MX 10 mx.example.com.\nexample.com. IN MX 30 192.0.2.9."
		}
		fmt.Fprintln(&zone, line)
	}
	_, c := newClient(t, zone.String())
	for _, tc := range []struct {
		name     string
		mxHost   string
		wantMX   []string
		severity dnsx.Severity
	}{
		{"published MX", "mx.example.com", []string{"mx.example.com", "backup.example.net"}, dnsx.OK},
		{"expected MX not published", "new.example.com", []string{"mx.example.com", "backup.example.net", "new.example.com"}, dnsx.Problem},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls []string
			expect := checkExpect
			expect.MXHost = tc.mxHost
			expect.Extra = []dnsx.CheckFunc{
				func(_ context.Context, domain string, mx []string) ([]dnsx.Finding, error) {
					calls = append(calls, "first "+domain)
					if !slices.Equal(mx, tc.wantMX) {
						t.Errorf("MX hosts %q, want %q", mx, tc.wantMX)
					}
					mx[0] = "changed" // the check's own copy
					return []dnsx.Finding{{Check: "mta-sts", Severity: tc.severity, Message: "policy", Fix: "fix"}}, nil
				},
				func(_ context.Context, domain string, mx []string) ([]dnsx.Finding, error) {
					calls = append(calls, "second "+domain)
					if mx[0] == "changed" {
						t.Error("the second check sees the first's change to its MX hosts")
					}
					return []dnsx.Finding{{Check: "tls-rpt", Severity: dnsx.Warning, Message: "no record", Fix: "publish"}}, nil
				},
			}
			rep, err := dnsx.Check(t.Context(), c, "Example.COM", expect)
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{"first example.com", "second example.com"}; !slices.Equal(calls, want) {
				t.Errorf("calls %q, want %q", calls, want)
			}
			n := len(rep.Findings)
			if n < 2 || rep.Findings[n-2].Check != "mta-sts" || rep.Findings[n-1].Check != "tls-rpt" {
				t.Fatalf("findings %+v, want mta-sts and tls-rpt last", rep.Findings)
			}
			if tc.severity == dnsx.Problem && rep.OK {
				t.Error("report OK with a problem from an extra check")
			}
		})
	}

	// An extra check's error is Check's, wrapped, so that a temporary DNS
	// failure stays one.
	dnsErr := &net.DNSError{Err: "server misbehaving", Name: "_mta-sts.example.com", IsTemporary: true}
	expect := checkExpect
	expect.Extra = []dnsx.CheckFunc{func(context.Context, string, []string) ([]dnsx.Finding, error) { return nil, dnsErr }}
	rep, err := dnsx.Check(t.Context(), c, "example.com", expect)
	if rep != nil || !errors.Is(err, dnsErr) || !dnsx.IsTemporary(err) || !strings.Contains(err.Error(), "_mta-sts.example.com") {
		t.Errorf("Check = %v, %v; want the extra check's temporary error", rep, err)
	}
}
