package auth

import (
	"errors"
	"strings"
	"testing"
)

func spfPass(domain string) SPFResult {
	return SPFResult{Result: Pass, MailFrom: "bounce@" + domain, Domain: domain}
}

func spfIs(r Result, domain string) SPFResult {
	return SPFResult{Result: r, MailFrom: "bounce@" + domain, Domain: domain, Err: errors.New(string(r))}
}

func dkimIs(r Result, domain string) DKIMResult {
	d := DKIMResult{Result: r, Domain: domain, Identifier: "@" + domain}
	if r != Pass {
		d.Err = errors.New(string(r))
	}
	return d
}

func TestDMARC(t *testing.T) {
	c, srv := newChecker(t)
	srv.ServFail("_dmarc.sf.example.com")
	srv.ServFail("_dmarc.tfo.test")
	noSPF := SPFResult{Result: None}
	from := func(addrs ...string) []string { return addrs }

	type tc struct {
		name    string
		from    []string
		spf     SPFResult
		dkim    []DKIMResult
		rand    int // what Rand returns, for pct=
		want    Result
		policy  string
		verdict Verdict
		wantErr error
	}
	sections := []struct {
		section string
		cases   []tc
	}{
		{"RFC 7489 §3.1.1 DKIM alignment", []tc{
			{name: "same domain", from: from("alice@example.com"), spf: noSPF, dkim: []DKIMResult{dkimIs(Pass, "example.com")}, want: Pass, policy: "reject", verdict: Deliver},
			{name: "relaxed: signed by a subdomain", from: from("alice@example.com"), spf: noSPF, dkim: []DKIMResult{dkimIs(Pass, "mail.example.com")}, want: Pass, policy: "reject", verdict: Deliver},
			{name: "relaxed: case", from: from("alice@Example.COM"), spf: noSPF, dkim: []DKIMResult{dkimIs(Pass, "EXAMPLE.com.")}, want: Pass, policy: "reject", verdict: Deliver},
			{name: "strict: parent domain does not align", from: from("alice@strict.example.com"), spf: noSPF, dkim: []DKIMResult{dkimIs(Pass, "example.com")}, want: Fail, policy: "reject", verdict: Reject},
			{name: "strict: same domain", from: from("alice@strict.example.com"), spf: noSPF, dkim: []DKIMResult{dkimIs(Pass, "strict.example.com")}, want: Pass, policy: "reject", verdict: Deliver},
			{name: "failing signature", from: from("alice@example.com"), spf: noSPF, dkim: []DKIMResult{dkimIs(Fail, "example.com")}, want: Fail, policy: "reject", verdict: Reject},
			{name: "pass by another domain", from: from("alice@example.com"), spf: noSPF, dkim: []DKIMResult{dkimIs(Pass, "example.org")}, want: Fail, policy: "reject", verdict: Reject},
			{name: "one aligned pass among failures", from: from("alice@example.com"), spf: noSPF, dkim: []DKIMResult{dkimIs(Fail, "example.com"), dkimIs(PermError, "example.com"), dkimIs(Pass, "example.com")}, want: Pass, policy: "reject", verdict: Deliver},
			{name: "same org domain under a public suffix is not alignment", from: from("alice@a.co.uk"), spf: noSPF, dkim: []DKIMResult{dkimIs(Pass, "co.uk")}, want: None, verdict: Deliver},
		}},
		{"RFC 7489 §3.1.2 SPF alignment", []tc{
			{name: "relaxed: MAIL FROM in a subdomain", from: from("alice@example.com"), spf: spfPass("mail.example.com"), want: Pass, policy: "reject", verdict: Deliver},
			{name: "strict: subdomain does not align", from: from("alice@strict.example.com"), spf: spfPass("mail.strict.example.com"), want: Fail, policy: "reject", verdict: Reject},
			{name: "strict: same domain", from: from("alice@strict.example.com"), spf: spfPass("strict.example.com"), want: Pass, policy: "reject", verdict: Deliver},
			{name: "softfail is no pass", from: from("alice@example.com"), spf: spfIs(SoftFail, "example.com"), want: Fail, policy: "reject", verdict: Reject},
			{name: "pass for another domain", from: from("alice@example.com"), spf: spfPass("example.org"), want: Fail, policy: "reject", verdict: Reject},
		}},
		{"RFC 7489 §6.6.3 policy discovery", []tc{
			{name: "subdomain gets sp= of the org domain", from: from("alice@sub.example.com"), spf: noSPF, want: Fail, policy: "quarantine", verdict: Quarantine},
			{name: "subdomain with its own record gets its p=", from: from("alice@own.example.com"), spf: noSPF, want: Fail, policy: "none", verdict: Deliver},
			{name: "org domain without sp= gives p= to subdomains", from: from("alice@deep.sub.example.org"), spf: noSPF, want: Fail, policy: "quarantine", verdict: Quarantine},
			{name: "two records: no policy", from: from("alice@two.test"), spf: noSPF, want: None, verdict: Deliver, wantErr: ErrSeveralRecords},
			{name: "invalid record: none", from: from("alice@invalid.test"), spf: noSPF, want: None, verdict: Deliver, wantErr: ErrInvalidRecord},
			{name: "tags and values are case-insensitive", from: from("alice@caps.test"), spf: noSPF, dkim: []DKIMResult{dkimIs(Pass, "sub.caps.test")}, want: Fail, policy: "reject", verdict: Reject},
			{name: "TXT records that are not DMARC", from: from("alice@other.test"), spf: noSPF, want: None, verdict: Deliver},
			{name: "no record", from: from("alice@norecord.test"), spf: noSPF, want: None, verdict: Deliver},
		}},
		{"RFC 7489 §6.6.4 pct", []tc{
			{name: "sampled: reject", from: from("alice@pct.test"), spf: noSPF, rand: 49, want: Fail, policy: "reject", verdict: Reject},
			{name: "not sampled: reject becomes quarantine", from: from("alice@pct.test"), spf: noSPF, rand: 50, want: Fail, policy: "reject", verdict: Quarantine},
			{name: "pct=0: quarantine becomes none", from: from("alice@pctq.test"), spf: noSPF, rand: 0, want: Fail, policy: "quarantine", verdict: Deliver},
		}},
		{"RFC 7489 §6.6.1 From header", []tc{
			{name: "no From", from: nil, spf: spfPass("example.com"), want: PermError, verdict: Quarantine, wantErr: ErrNoFrom},
			{name: "unparseable From", from: from("alice at example.com <<"), spf: spfPass("example.com"), want: PermError, verdict: Quarantine, wantErr: ErrFromInvalid},
			{name: "group without addresses", from: from("undisclosed-recipients:;"), spf: spfPass("example.com"), want: PermError, verdict: Quarantine, wantErr: ErrFromInvalid},
			{name: "address without a valid domain", from: from("alice@[192.0.2.1]"), spf: spfPass("example.com"), want: PermError, verdict: Quarantine, wantErr: ErrFromNoDomain},
			{name: "two From fields, both passing: never a pass", from: from("alice@example.com", "bob@example.com"), spf: spfPass("example.com"), want: PermError, policy: "reject", verdict: Deliver, wantErr: ErrSeveralFrom},
			{name: "two addresses, second domain fails: its policy", from: from("alice@example.com, bob@example.org"), spf: spfPass("example.com"), want: Fail, policy: "quarantine", verdict: Quarantine, wantErr: ErrSeveralFrom},
			{name: "two From fields, first fails reject: reject", from: from("alice@example.com", "bob@example.net"), spf: spfPass("example.net"), want: Fail, policy: "reject", verdict: Reject, wantErr: ErrSeveralFrom},
		}},
		{"RFC 7489 §11.2 temperror", []tc{
			{name: "record lookup SERVFAIL: defer", from: from("alice@sf.example.com"), spf: noSPF, want: TempError, verdict: Defer},
			{name: "org domain record lookup SERVFAIL: defer", from: from("alice@a.tfo.test"), spf: noSPF, want: TempError, verdict: Defer},
			{name: "aligned DKIM temperror under p=reject: defer", from: from("alice@example.com"), spf: noSPF, dkim: []DKIMResult{dkimIs(TempError, "example.com")}, want: TempError, policy: "reject", verdict: Defer},
			{name: "aligned SPF temperror under p=quarantine: defer", from: from("alice@example.org"), spf: spfIs(TempError, "example.org"), want: TempError, policy: "quarantine", verdict: Defer},
			{name: "aligned DKIM temperror under p=none: deliver", from: from("alice@example.net"), spf: noSPF, dkim: []DKIMResult{dkimIs(TempError, "example.net")}, want: TempError, policy: "none", verdict: Deliver},
			{name: "unaligned temperror does not hold the verdict", from: from("alice@example.com"), spf: noSPF, dkim: []DKIMResult{dkimIs(TempError, "example.org")}, want: Fail, policy: "reject", verdict: Reject},
			{name: "temperror beside an aligned pass: pass", from: from("alice@example.com"), spf: spfPass("example.com"), dkim: []DKIMResult{dkimIs(TempError, "example.com")}, want: Pass, policy: "reject", verdict: Deliver},
		}},
	}
	for _, s := range sections {
		for _, tc := range s.cases {
			t.Run(s.section+"/"+tc.name, func(t *testing.T) {
				cc := *c
				cc.Rand = func(n int) int {
					if n != 100 {
						t.Errorf("Rand(%d), want Rand(100)", n)
					}
					return tc.rand
				}
				got := cc.DMARC(t.Context(), tc.from, tc.spf, tc.dkim)
				if got.Result != tc.want || got.Policy != tc.policy || got.Verdict != tc.verdict {
					t.Errorf("DMARC(%q) = %s, policy %q, verdict %s (%v); want %s, policy %q, verdict %s",
						tc.from, got.Result, got.Policy, got.Verdict, got.Err, tc.want, tc.policy, tc.verdict)
				}
				if tc.wantErr != nil && !errors.Is(got.Err, tc.wantErr) {
					t.Errorf("Err = %v, want %v", got.Err, tc.wantErr)
				}
				if (got.Result == Pass) != (got.Err == nil) {
					t.Errorf("result %s with Err %v", got.Result, got.Err)
				}
			})
		}
	}
}

func TestOrganizationalDomain(t *testing.T) {
	for in, want := range map[string]string{
		"example.com":             "example.com",
		"mail.example.com":        "example.com",
		"a.b.example.co.uk":       "example.co.uk",
		"Mail.Example.COM.":       "example.com",
		"co.uk":                   "co.uk",
		"com":                     "com",
		"user.github.io":          "user.github.io",
		"deep.sub.other.test":     "other.test",
		"xn--bcher-kva.example":   "xn--bcher-kva.example",
		"a.xn--bcher-kva.example": "xn--bcher-kva.example",
	} {
		if got := OrganizationalDomain(in); got != want {
			t.Errorf("OrganizationalDomain(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseRecord(t *testing.T) {
	for _, tc := range []struct {
		section, txt string
		ok           bool
		policy, sp   string
		adkim, aspf  string
	}{
		{"RFC 7489 §6.3", "v=DMARC1; p=reject", true, "reject", "", "r", "r"},
		{"RFC 7489 §6.3", "v=DMARC1;p=quarantine;sp=none;adkim=s;aspf=s", true, "quarantine", "none", "s", "s"},
		{"RFC 7489 §6.3", "v=DMARC1; p=none; rua=mailto:d@example.com; unknown=tag", true, "none", "", "r", "r"},
		{"RFC 7489 §6.4", "v=DMARC1; P=REJECT; ADKIM=S", true, "reject", "", "s", "r"},
		{"RFC 7489 §6.4", "v = DMARC1 ; p = none", true, "none", "", "r", "r"},
		{"RFC 7489 §6.4", "v=dmarc1; p=reject", false, "", "", "", ""},
		{"RFC 7489 §6.3", "v=DMARC1", false, "", "", "", ""},
		{"RFC 7489 §6.3", "v=DMARC1; p=always", false, "", "", "", ""},
		{"RFC 7489 §6.3", "v=DMARC1; p=reject; pct=101", false, "", "", "", ""},
		{"RFC 7489 §6.3", "v=DMARC1; p=reject; adkim=x", false, "", "", "", ""},
		{"RFC 7489 §6.6.3", "p=reject; v=DMARC1", false, "", "", "", ""},
		{"RFC 7489 §6.6.3", "v=spf1 -all", false, "", "", "", ""},
	} {
		t.Run(tc.section+"/"+tc.txt, func(t *testing.T) {
			rec, err := ParseRecord(tc.txt)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseRecord(%q) error %v, want ok=%v", tc.txt, err, tc.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrInvalidRecord) {
					t.Errorf("error %v does not wrap ErrInvalidRecord", err)
				}
				return
			}
			if string(rec.Policy) != tc.policy || string(rec.SubdomainPolicy) != tc.sp ||
				string(rec.DKIMAlignment) != tc.adkim || string(rec.SPFAlignment) != tc.aspf {
				t.Errorf("ParseRecord(%q) = p=%s sp=%s adkim=%s aspf=%s", tc.txt,
					rec.Policy, rec.SubdomainPolicy, rec.DKIMAlignment, rec.SPFAlignment)
			}
		})
	}
}

func TestAuthorDomains(t *testing.T) {
	for _, tc := range []struct {
		from []string
		want string
		err  error
	}{
		{[]string{"alice@example.com"}, "example.com", nil},
		{[]string{"Alice <alice@Example.COM>"}, "example.com", nil},
		{[]string{"Alice <alice@example.com.>"}, "", ErrFromInvalid},
		{[]string{`"Smith, Alice" <alice@example.com>`}, "example.com", nil},
		{[]string{"=?x-unknown?q?Alice?= <alice@example.com>"}, "example.com", nil},
		{[]string{"=?utf-8?q?Al=C3=AFce?= <alice@example.com>"}, "example.com", nil},
		{[]string{`"a@b"@example.com`}, "example.com", nil},
		{[]string{"alice@example.com (comment)"}, "example.com", nil},
		{[]string{"a@example.com, b@example.org"}, "example.com example.org", nil},
		{[]string{"a@example.com", "b@example.org"}, "example.com example.org", nil},
		{nil, "", ErrNoFrom},
		{[]string{""}, "", ErrFromInvalid},
		{[]string{"alice"}, "", ErrFromInvalid},
		{[]string{"alice@"}, "", ErrFromInvalid},
		{[]string{"alice@localhost"}, "", ErrFromNoDomain},
		{[]string{"alice@exa mple.com"}, "", ErrFromInvalid},
	} {
		got, err := AuthorDomains(tc.from)
		if !errors.Is(err, tc.err) || strings.Join(got, " ") != tc.want {
			t.Errorf("AuthorDomains(%q) = %q, %v; want %q, %v", tc.from, got, err, tc.want, tc.err)
		}
	}
}
