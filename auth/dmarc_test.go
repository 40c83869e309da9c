package auth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dmarc"
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
		junk    bool // QuarantineUnusableFrom
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
		{"RFC 7489 §6.6.1 From header: refused by default", []tc{
			{name: "no From", from: nil, spf: spfPass("example.com"), want: PermError, verdict: Reject, wantErr: ErrNoFrom},
			{name: "unparseable From", from: from("alice at example.com <<"), spf: spfPass("example.com"), want: PermError, verdict: Reject, wantErr: ErrFromInvalid},
			{name: "group without addresses", from: from("undisclosed-recipients:;"), spf: spfPass("example.com"), want: PermError, verdict: Reject, wantErr: ErrFromInvalid},
			{name: "address without a valid domain", from: from("alice@[192.0.2.1]"), spf: spfPass("example.com"), want: PermError, verdict: Reject, wantErr: ErrFromNoDomain},
			{name: "domain that does not convert to A-labels", from: from("alice@xn--zz.example"), spf: spfPass("example.com"), want: PermError, verdict: Reject, wantErr: ErrFromInvalid},
			{name: "two From fields, both passing: never a pass, never the inbox", from: from("alice@example.com", "bob@example.com"), spf: spfPass("example.com"), want: PermError, verdict: Reject, wantErr: ErrSeveralFrom},
			{name: "two addresses, both passing", from: from("alice@example.com, bob@example.com"), spf: spfPass("example.com"), want: PermError, verdict: Reject, wantErr: ErrSeveralFrom},
			{name: "two From fields, no policy anywhere", from: from("alice@norecord.test", "bob@norecord.test"), spf: noSPF, want: PermError, verdict: Reject, wantErr: ErrSeveralFrom},
		}},
		{"RFC 7489 §6.6.1 From header: Junk with QuarantineUnusableFrom", []tc{
			{name: "no From", junk: true, from: nil, spf: spfPass("example.com"), want: PermError, verdict: Quarantine, wantErr: ErrNoFrom},
			{name: "unparseable From", junk: true, from: from("ceo@(x)victim.example"), spf: spfPass("example.com"), want: PermError, verdict: Quarantine, wantErr: ErrFromInvalid},
			{name: "two From fields, both passing", junk: true, from: from("alice@example.com", "bob@example.com"), spf: spfPass("example.com"), want: PermError, verdict: Quarantine, wantErr: ErrSeveralFrom},
			{name: "two addresses, one under p=none", junk: true, from: from("alice@example.com, bob@example.net"), spf: spfPass("example.com"), want: PermError, verdict: Quarantine, wantErr: ErrSeveralFrom},
			{name: "two From fields, one failing p=reject: reject", junk: true, from: from("alice@example.com", "bob@example.net"), spf: spfPass("example.net"), want: PermError, policy: "reject", verdict: Reject, wantErr: ErrSeveralFrom},
			{name: "two From fields, one SERVFAIL: defer", junk: true, from: from("alice@example.net", "bob@sf.example.com"), spf: spfPass("example.net"), want: PermError, verdict: Defer, wantErr: ErrSeveralFrom},
		}},
		{"RFC 8616 §4 internationalized author domains", []tc{
			{name: "U-label From, unauthenticated: the A-label domain's p=reject", from: from("ceo@bücher.example"), spf: noSPF, want: Fail, policy: "reject", verdict: Reject},
			{name: "upper-case U-label", from: from("ceo@BÜCHER.EXAMPLE"), spf: noSPF, want: Fail, policy: "reject", verdict: Reject},
			{name: "full-width look-alike folds to victim.example", from: from("CEO <ceo@ｖｉｃｔｉｍ.example>"), spf: noSPF, want: Fail, policy: "reject", verdict: Reject},
			{name: "roman numeral look-alike folds to victim.example", from: from("ceo@ⅴictim.example"), spf: noSPF, want: Fail, policy: "reject", verdict: Reject},
			{name: "Kelvin sign folds to kx.example", from: from("ceo@Kx.example"), spf: noSPF, want: Fail, policy: "reject", verdict: Reject},
			{name: "strict: DKIM d= in A-labels aligns with a U-label From", from: from("ceo@bücher.example"), spf: noSPF, dkim: []DKIMResult{dkimIs(Pass, "xn--bcher-kva.example")}, want: Pass, policy: "reject", verdict: Deliver},
			{name: "strict: DKIM d= in U-labels aligns with an A-label From", from: from("ceo@xn--bcher-kva.example"), spf: noSPF, dkim: []DKIMResult{dkimIs(Pass, "Bücher.example.")}, want: Pass, policy: "reject", verdict: Deliver},
			{name: "strict: SPF domain in A-labels aligns", from: from("ceo@bücher.example"), spf: spfPass("xn--bcher-kva.example"), want: Pass, policy: "reject", verdict: Deliver},
			{name: "DKIM d= that does not convert aligns with nothing", from: from("ceo@victim.example"), spf: noSPF, dkim: []DKIMResult{dkimIs(Pass, "victim.example․")}, want: Fail, policy: "reject", verdict: Reject},
			{name: "relaxed: DKIM by a full-width subdomain spelling", from: from("ceo@victim.example"), spf: noSPF, dkim: []DKIMResult{dkimIs(Pass, "ｍａｉｌ.victim.example")}, want: Pass, policy: "reject", verdict: Deliver},
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
				cc.QuarantineUnusableFrom = tc.junk
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
		// RFC 8616 §4: U-labels and look-alikes first become A-labels.
		"mail.bücher.example":  "xn--bcher-kva.example",
		"Mail.BÜCHER.example.": "xn--bcher-kva.example",
		"a.ｖｉｃｔｉｍ.example":     "victim.example",
		"a.b.рф":               "b.xn--p1ai",
		"a.b.xn--p1ai":         "b.xn--p1ai",
		"b.пример.рф":          "xn--e1afmkfd.xn--p1ai",
	} {
		if got := OrganizationalDomain(in); got != want {
			t.Errorf("OrganizationalDomain(%q) = %q, want %q", in, got, want)
		}
	}
}

// recordCase is a DMARC record and how ParseRecord reads it: ok false
// means ErrInvalidRecord; pct -1 means no pct= (100).
type recordCase struct {
	txt         string
	ok          bool
	policy, sp  string
	adkim, aspf string
	pct         int
}

// rejectKept are records written carelessly that still publish p=reject
// with relaxed alignment and no pct=: every malformed tag but p= is
// ignored (RFC 7489 §6.3).
var rejectKept = []string{
	// The records that lost p=reject (issue 10).
	"v=DMARC1; p=reject; fo=2",
	"v=DMARC1; p=reject; rf=iodef",
	"v=DMARC1; p=reject; ri=",
	"v=DMARC1; p=reject; pct=",
	"v=DMARC1; p=reject; sp=",
	"v=DMARC1; p=reject; aspf=",
	"v=DMARC1; p=reject; pct=101",
	"v=DMARC1; p=reject; adkim=x",
	"v=DMARC1; p=reject; stray",
	// More malformed values.
	"v=DMARC1; stray; p=reject",
	"v=DMARC1; p=reject; adkim=",
	"v=DMARC1; p=reject; adkim=strict; aspf=relaxed",
	"v=DMARC1; p=reject; pct=-1",
	"v=DMARC1; p=reject; pct=50%",
	"v=DMARC1; p=reject; pct=+50",
	"v=DMARC1; p=reject; pct=1000",
	"v=DMARC1; p=reject; pct=abc",
	"v=DMARC1; p=reject; pct=5 0",
	"v=DMARC1; p=reject; ri=0",
	"v=DMARC1; p=reject; ri=-1",
	"v=DMARC1; p=reject; ri=1.5",
	"v=DMARC1; p=reject; ri=99999999999",
	"v=DMARC1; p=reject; fo=",
	"v=DMARC1; p=reject; fo=1:x",
	"v=DMARC1; p=reject; rf=afrf:iodef",
	"v=DMARC1; p=reject; rua=",
	"v=DMARC1; p=reject; rua=not a uri",
	"v=DMARC1; p=reject; ruf=x",
	"v=DMARC1; p=reject; sp=always",
	"v=DMARC1; p=reject; sp=rejected",
	"v=DMARC1; p=reject; np=bogus; psd=maybe; t=x",
	"v=DMARC1; p=reject; =value",
	"v=DMARC1; p=reject; ==",
	"v=DMARC1; p=reject; a=b=c",
	"v=DMARC1; p=reject; v=DMARC2",
	// Tags given twice: the first valid value counts.
	"v=DMARC1; p=reject; p=reject",
	"v=DMARC1; p=reject; p=none",
	"v=DMARC1; p=bogus; p=reject",
	"v=DMARC1; p=; p=reject",
	"v=DMARC1; v=DMARC1; p=reject",
	"v=DMARC1; p=reject; adkim=r; adkim=s",
	// White space, case, empty tags.
	"v=DMARC1;p=reject",
	"  v = DMARC1 ;  p = reject  ;  ",
	"v=DMARC1;\tp=reject",
	"V=DMARC1; P=REJECT",
	"v=DMARC1; p=Reject",
	"v=DMARC1; p=reject;",
	"v=DMARC1; p=reject;;",
	";v=DMARC1;;p=reject",
	// A forgotten ";".
	"v=DMARC1 p=reject",
	"v=DMARC1; p=reject rua=mailto:d@example.com",
	"v=DMARC1; rua=mailto:d@example.com p=reject",
	"v=DMARC1; p=reject fo=1 ri=3600",
}

func TestParseRecord(t *testing.T) {
	sections := []struct {
		section string
		cases   []recordCase
	}{
		{"RFC 7489 §6.3 valid records", []recordCase{
			{"v=DMARC1; p=reject", true, "reject", "", "r", "r", -1},
			{"v=DMARC1;p=quarantine;sp=none;adkim=s;aspf=s", true, "quarantine", "none", "s", "s", -1},
			{"v=DMARC1; p=none; rua=mailto:d@example.com; unknown=tag", true, "none", "", "r", "r", -1},
			{"v=DMARC1; p=reject; pct=0", true, "reject", "", "r", "r", 0},
			{"v=DMARC1; p=reject; pct=100", true, "reject", "", "r", "r", 100},
			{"v=DMARC1; p=reject; SP=None; ADKIM=S; ASPF=S; PCT=50", true, "reject", "none", "s", "s", 50},
		}},
		{"RFC 7489 §6.4 case and white space", []recordCase{
			{"v=DMARC1; P=REJECT; ADKIM=S", true, "reject", "", "s", "r", -1},
			{"v = DMARC1 ; p = none", true, "none", "", "r", "r", -1},
			{"v=DMARC1; p=reject adkim=s", true, "reject", "", "s", "r", -1},
			{"v=DMARC1; p=reject sp=none", true, "reject", "none", "r", "r", -1},
			{"v=DMARC1; p=reject; pct=x; pct=50", true, "reject", "", "r", "r", 50},
			{"v=DMARC1; p=reject; adkim=s; adkim=r", true, "reject", "", "s", "r", -1},
		}},
		{"RFC 7489 §6.6.3 step 6 no valid p=", []recordCase{
			{"v=DMARC1; p=bogus; rua=mailto:d@example.com", true, "none", "", "r", "r", -1},
			{"v=DMARC1; rua=mailto:d@example.com", true, "none", "", "r", "r", -1},
			{"v=DMARC1; p=; rua=mailto:d@example.com!10m", true, "none", "", "r", "r", -1},
			{"v=DMARC1; p=always; rua=bad uri, mailto:d@example.com", true, "none", "", "r", "r", -1},
			{"v=DMARC1; p=bogus; rua=not a uri", false, "", "", "", "", 0},
			{"v=DMARC1; p=bogus; rua=mailto:d@example.com!x", false, "", "", "", "", 0},
			{"v=DMARC1; p=bogus", false, "", "", "", "", 0},
			{"v=DMARC1; p=always", false, "", "", "", "", 0},
			{"v=DMARC1; sp=reject", false, "", "", "", "", 0},
			{"v=DMARC1", false, "", "", "", "", 0},
		}},
		{"RFC 7489 §6.6.3 step 2 not a DMARC record", []recordCase{
			{"v=dmarc1; p=reject", false, "", "", "", "", 0},
			{"v=DMARC2; p=reject", false, "", "", "", "", 0},
			{"v=DMARC1p=reject", false, "", "", "", "", 0},
			{"p=reject; v=DMARC1", false, "", "", "", "", 0},
			{"stray; v=DMARC1; p=reject", false, "", "", "", "", 0},
			{"v=spf1 -all", false, "", "", "", "", 0},
			{"", false, "", "", "", "", 0},
		}},
	}
	var kept []recordCase
	for _, txt := range rejectKept {
		kept = append(kept, recordCase{txt, true, "reject", "", "r", "r", -1})
	}
	sections = append(sections, struct {
		section string
		cases   []recordCase
	}{"RFC 7489 §6.3 malformed tags are ignored", kept})
	for _, s := range sections {
		for _, tc := range s.cases {
			t.Run(s.section+"/"+tc.txt, func(t *testing.T) {
				rec, err := ParseRecord(tc.txt)
				if (err == nil) != tc.ok {
					t.Fatalf("ParseRecord(%q) error %v, want ok=%v", tc.txt, err, tc.ok)
				}
				if isDMARCRecord(tc.txt) != (tc.ok || !strings.Contains(s.section, "not a DMARC")) {
					t.Errorf("isDMARCRecord(%q) = %v", tc.txt, isDMARCRecord(tc.txt))
				}
				if err != nil {
					if !errors.Is(err, ErrInvalidRecord) {
						t.Errorf("error %v does not wrap ErrInvalidRecord", err)
					}
					return
				}
				pct := -1
				if rec.Percent != nil {
					pct = *rec.Percent
				}
				if string(rec.Policy) != tc.policy || string(rec.SubdomainPolicy) != tc.sp ||
					string(rec.DKIMAlignment) != tc.adkim || string(rec.SPFAlignment) != tc.aspf || pct != tc.pct {
					t.Errorf("ParseRecord(%q) = p=%s sp=%s adkim=%s aspf=%s pct=%d; want p=%s sp=%s adkim=%s aspf=%s pct=%d", tc.txt,
						rec.Policy, rec.SubdomainPolicy, rec.DKIMAlignment, rec.SPFAlignment, pct,
						tc.policy, tc.sp, tc.adkim, tc.aspf, tc.pct)
				}
			})
		}
	}
}

// TestParseRecordReports checks the reporting tags that survive beside
// malformed ones.
func TestParseRecordReports(t *testing.T) {
	rec, err := ParseRecord("v=DMARC1; p=reject; rua=bad uri, mailto:Agg@Example.com!10m; ruf=mailto:f@example.com; ri=3600; fo=1:d; rf=AFRF; pct=oops")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rec.ReportURIAggregate, ",") != "mailto:Agg@Example.com!10m" ||
		strings.Join(rec.ReportURIFailure, ",") != "mailto:f@example.com" ||
		rec.ReportInterval != time.Hour || rec.FailureOptions != dmarc.FailureAny|dmarc.FailureDKIM ||
		len(rec.ReportFormat) != 1 || rec.Percent != nil {
		t.Errorf("ParseRecord = %+v", rec)
	}
}
