package auth

import (
	"bufio"
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dmarc"
)

// FuzzParseRecord checks that any TXT record either parses into a record
// with valid values or fails with ErrInvalidRecord.
func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{
		"v=DMARC1; p=reject",
		"v=DMARC1; p=quarantine; sp=none; adkim=s; aspf=r; pct=50; fo=1:d; rf=afrf; ri=3600; rua=mailto:a@example.com,mailto:b@example.com",
		"v=DMARC1;P=NONE",
		"v=DMARC1; p=reject; pct=-1",
		"v=DMARC1; p",
		"v=DMARC1",
		"v=spf1 -all",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, txt string) {
		rec, err := ParseRecord(txt)
		if err != nil {
			if !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("ParseRecord(%q) error %v does not wrap ErrInvalidRecord", txt, err)
			}
			return
		}
		if !isDMARCRecord(txt) {
			t.Fatalf("ParseRecord(%q) accepted a record without v=DMARC1 first", txt)
		}
		switch rec.Policy {
		case "none", "quarantine", "reject":
		default:
			t.Fatalf("ParseRecord(%q) gave policy %q", txt, rec.Policy)
		}
		switch rec.SubdomainPolicy {
		case "", "none", "quarantine", "reject":
		default:
			t.Fatalf("ParseRecord(%q) gave subdomain policy %q", txt, rec.SubdomainPolicy)
		}
		if rec.Percent != nil && (*rec.Percent < 0 || *rec.Percent > 100) {
			t.Fatalf("ParseRecord(%q) gave pct=%d", txt, *rec.Percent)
		}
		if (rec.DKIMAlignment != "r" && rec.DKIMAlignment != "s") || (rec.SPFAlignment != "r" && rec.SPFAlignment != "s") {
			t.Fatalf("ParseRecord(%q) gave adkim=%q aspf=%q", txt, rec.DKIMAlignment, rec.SPFAlignment)
		}
	})
}

// FuzzParseRecordReference checks ParseRecord against a strict reference,
// go-msgauth's dmarc.Parse after the v=DMARC1 check, as ParseRecord read
// records before it forgave malformed tags: every record the reference
// reads, with no tag given twice and no ";" forgotten, ParseRecord reads
// with the same policies and alignment, and a pct= no lower. Leniency may
// only keep a policy, never weaken one.
func FuzzParseRecordReference(f *testing.F) {
	for _, s := range rejectKept {
		f.Add(s)
	}
	f.Add("v=DMARC1; p=quarantine; sp=none; adkim=s; aspf=r; pct=50; fo=1:d; rf=afrf; ri=3600; rua=mailto:a@example.com")
	f.Add("v=DMARC1; p=reject; pct=+050")
	f.Fuzz(func(t *testing.T, txt string) {
		ref, err := referenceParseRecord(txt)
		if err != nil {
			return
		}
		names := make(map[string]bool)
		for _, tag := range recordTags(txt) {
			if names[tag.name] {
				return // the reference keeps the last; ParseRecord the first valid
			}
			names[tag.name] = true
		}
		if len(recordTags(txt)) != len(strings.FieldsFunc(txt, func(r rune) bool { return r == ';' })) {
			return // a forgotten ";" (or an empty part) the reference reads as one tag
		}
		rec, err := ParseRecord(txt)
		if err != nil {
			t.Fatalf("ParseRecord(%q) = %v; the reference reads p=%s", txt, err, ref.Policy)
		}
		pct := func(r *dmarc.Record) int {
			if r.Percent == nil {
				return 100
			}
			return *r.Percent
		}
		if rec.Policy != ref.Policy || rec.SubdomainPolicy != ref.SubdomainPolicy ||
			rec.DKIMAlignment != ref.DKIMAlignment || rec.SPFAlignment != ref.SPFAlignment || pct(rec) < pct(ref) {
			t.Fatalf("ParseRecord(%q) = %+v; the reference reads %+v", txt, rec, ref)
		}
	})
}

// referenceParseRecord is how ParseRecord read records before issue 10:
// any malformed tag discards the record.
func referenceParseRecord(txt string) (*dmarc.Record, error) {
	first, rest, _ := strings.Cut(txt, ";")
	k, v, ok := strings.Cut(first, "=")
	if !ok || strings.TrimSpace(k) != "v" || strings.TrimSpace(v) != "DMARC1" {
		return nil, ErrInvalidRecord
	}
	return dmarc.Parse("v=DMARC1;" + strings.ToLower(rest))
}

// FuzzAuthorDomains feeds From header values (one per line of the input)
// to AuthorDomains and to a whole DMARC evaluation without DNS trouble:
// either valid domains come out, or an error DMARC turns into permerror and
// reject (quarantine with QuarantineUnusableFrom); several addresses are
// refused too.
func FuzzAuthorDomains(f *testing.F) {
	for _, s := range []string{
		"alice@example.com",
		"Alice <alice@example.com>",
		`"Smith, Alice" <alice@example.com>, bob@example.org`,
		"alice@example.com\nbob@example.com",
		"=?utf-8?q?Al=C3=AFce?= <alice@example.com>",
		"undisclosed-recipients:;",
		"Group: a@example.com, b@example.net;",
		"alice@[192.0.2.1]",
		"(comment) alice@example.com (another)",
		"<>",
		"",
	} {
		f.Add(s)
	}
	for _, tc := range badFrom {
		f.Add(strings.Join(tc.from, "\n"))
	}
	c := &Checker{Resolver: failingResolver{notFoundErr}}
	junk := &Checker{Resolver: failingResolver{notFoundErr}, QuarantineUnusableFrom: true}
	f.Fuzz(func(t *testing.T, in string) {
		var from []string
		if in != "" {
			from = strings.Split(in, "\n")
		}
		domains, err := AuthorDomains(from)
		if err == nil {
			if len(domains) == 0 {
				t.Fatalf("AuthorDomains(%q): no domain and no error", from)
			}
			for _, d := range domains {
				if !isDomainName(d) || d != strings.ToLower(d) {
					t.Fatalf("AuthorDomains(%q) gave domain %q", from, d)
				}
			}
		}
		spf := SPFResult{Result: Pass, Domain: "example.com"}
		res := c.DMARC(t.Context(), from, spf, nil)
		resJunk := junk.DMARC(t.Context(), from, spf, nil)
		switch {
		case err != nil || len(domains) > 1:
			if res.Result != PermError || res.Verdict != Reject || !errors.Is(res.Err, ErrUnusableFrom) {
				t.Fatalf("DMARC(%q) with a bad From = %s, %s, %v; want permerror, reject", from, res.Result, res.Verdict, res.Err)
			}
			if resJunk.Result != PermError || resJunk.Verdict != Quarantine {
				t.Fatalf("DMARC(%q) with a bad From and QuarantineUnusableFrom = %s, %s", from, resJunk.Result, resJunk.Verdict)
			}
		case errors.Is(res.Err, ErrUnusableFrom):
			t.Fatalf("DMARC(%q) of one author = %s, %v", from, res.Result, res.Err)
		}
	})
}

// FuzzAuthenticationResults checks that values taken from the message
// (DKIM d= and i=, MAIL FROM, HELO) cannot add or change results in the
// header: it always parses back to our id and the results we wrote.
func FuzzAuthenticationResults(f *testing.F) {
	f.Add("example.com", "@example.com", "alice@example.com", "mta.example.com")
	f.Add("x; dmarc=pass", `a"b\";dkim=pass`, `"x;y"@example.com`, "a\r\nb")
	f.Fuzz(func(t *testing.T, d, i, mailFrom, helo string) {
		res := &Results{
			SPF:   SPFResult{Result: Fail, MailFrom: mailFrom, Helo: helo, Domain: d},
			DKIM:  []DKIMResult{{Result: Fail, Domain: d, Identifier: i, Err: errors.New(i)}},
			DMARC: DMARCResult{Result: Fail, Domain: d, Policy: "reject", Sampled: true},
		}
		field := res.AuthenticationResults("mx.ownmx.test")
		h, err := textproto.ReadHeader(bufio.NewReader(strings.NewReader(field + "\r\n")))
		if err != nil || h.Len() != 1 {
			t.Fatalf("header %q does not read back as one field: %v", field, err)
		}
		id, results, err := authres.Parse(h.Get("Authentication-Results"))
		if err != nil || id != "mx.ownmx.test" || len(results) != 3 {
			t.Fatalf("header %q parses as %q, %d results, %v", field, id, len(results), err)
		}
		for _, r := range results {
			switch r := r.(type) {
			case *authres.SPFResult:
				if r.Value != authres.ResultFail {
					t.Fatalf("spf=%s in %q", r.Value, field)
				}
			case *authres.DKIMResult:
				if r.Value != authres.ResultFail {
					t.Fatalf("dkim=%s in %q", r.Value, field)
				}
			case *authres.DMARCResult:
				if r.Value != authres.ResultFail {
					t.Fatalf("dmarc=%s in %q", r.Value, field)
				}
			default:
				t.Fatalf("unexpected result %T in %q", r, field)
			}
		}
	})
}
