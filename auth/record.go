package auth

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dmarc"
)

// ParseRecord parses a DMARC record (RFC 7489 §6.3, §6.4) as a receiver
// should read one written carelessly. The record must start with the tag
// v=DMARC1 (the value is case-sensitive, §6.4). Then:
//
//   - A valid p= makes a policy. Every other tag that is unknown or
//     malformed is ignored and takes its default (§6.3): fo=2, rf=iodef,
//     an empty ri=, pct=, sp= or aspf=, pct=101, adkim=x or a stray word
//     without "=" take nothing away from p=reject. An sp= that is not
//     valid is ignored, so p= applies to subdomains too, rather than
//     dropping the policy as §6.6.3 step 6 would.
//   - Without a valid p=, a record with a syntactically valid rua= URI
//     is read as p=none (§6.6.3 step 6); any other fails with
//     ErrInvalidRecord.
//   - Tag names, and the values of p, sp, adkim, aspf, fo and rf, are
//     case-insensitive; white space around tags, names and values, an
//     empty tag (";;", a final ";") are allowed; of a tag given twice, the
//     first valid value counts.
//   - A forgotten ";" is forgiven: a known tag name followed by "=" after
//     white space inside a value starts a new tag ("v=DMARC1 p=reject",
//     "p=reject adkim=s").
func ParseRecord(txt string) (*dmarc.Record, error) {
	tags := recordTags(txt)
	if !isVersionTag(tags) {
		return nil, fmt.Errorf("%w: does not start with v=DMARC1: %q", ErrInvalidRecord, truncate(txt, 100))
	}
	rec := &dmarc.Record{DKIMAlignment: dmarc.AlignmentRelaxed, SPFAlignment: dmarc.AlignmentRelaxed}
	seen := make(map[string]bool)
	for _, t := range tags[1:] {
		if seen[t.name] {
			continue
		}
		if setTag(rec, t.name, t.value) {
			seen[t.name] = true
		}
	}
	if rec.Policy == "" {
		if len(rec.ReportURIAggregate) == 0 {
			return nil, fmt.Errorf("%w: no valid p= and no valid rua=: %q", ErrInvalidRecord, truncate(txt, 100))
		}
		rec.Policy = dmarc.PolicyNone
	}
	return rec, nil
}

// setTag sets the field of rec that a tag names, and reports whether the
// value was valid; an unknown tag or a malformed value leaves rec as it
// was.
func setTag(rec *dmarc.Record, name, value string) bool {
	lower := strings.ToLower(value)
	switch name {
	case "p", "sp":
		switch lower {
		case dmarc.PolicyReject, dmarc.PolicyQuarantine, string(dmarc.PolicyNone):
		default:
			return false
		}
		if name == "p" {
			rec.Policy = dmarc.Policy(lower)
		} else {
			rec.SubdomainPolicy = dmarc.Policy(lower)
		}
	case "adkim", "aspf":
		if lower != "r" && lower != "s" {
			return false
		}
		if name == "adkim" {
			rec.DKIMAlignment = dmarc.AlignmentMode(lower)
		} else {
			rec.SPFAlignment = dmarc.AlignmentMode(lower)
		}
	case "pct":
		n, ok := digits(value, 3)
		if !ok || n > 100 {
			return false
		}
		rec.Percent = &n
	case "ri":
		n, ok := digits(value, 10)
		if !ok || n == 0 || n > 1<<32-1 {
			return false
		}
		rec.ReportInterval = time.Duration(n) * time.Second
	case "fo":
		var fo dmarc.FailureOptions
		for o := range strings.SplitSeq(lower, ":") {
			switch strings.TrimSpace(o) {
			case "0":
				fo |= dmarc.FailureAll
			case "1":
				fo |= dmarc.FailureAny
			case "d":
				fo |= dmarc.FailureDKIM
			case "s":
				fo |= dmarc.FailureSPF
			default:
				return false
			}
		}
		rec.FailureOptions = fo
	case "rf":
		var rf []dmarc.ReportFormat
		for f := range strings.SplitSeq(lower, ":") {
			if strings.TrimSpace(f) != string(dmarc.ReportFormatAFRF) {
				return false
			}
			rf = append(rf, dmarc.ReportFormatAFRF)
		}
		rec.ReportFormat = rf
	case "rua", "ruf":
		uris := reportURIs(value)
		if len(uris) == 0 {
			return false
		}
		if name == "rua" {
			rec.ReportURIAggregate = uris
		} else {
			rec.ReportURIFailure = uris
		}
	default:
		return false
	}
	return true
}

// digits parses 1 to max decimal digits and nothing else.
func digits(s string, max int) (int, bool) {
	if len(s) == 0 || len(s) > max {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// reportURIs returns the syntactically valid URIs of a rua= or ruf= list
// (RFC 7489 §6.4: dmarc-uri = URI [ "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] ],
// comma-separated), without the others.
func reportURIs(list string) []string {
	var uris []string
	for u := range strings.SplitSeq(list, ",") {
		u = strings.TrimSpace(u)
		uri := u
		if i := strings.LastIndexByte(u, '!'); i >= 0 {
			// A size limit: "!" 1*DIGIT [ "k" / "m" / "g" / "t" ].
			size := strings.ToLower(u[i+1:])
			if n := len(size); n > 0 && strings.IndexByte("kmgt", size[n-1]) >= 0 {
				size = size[:n-1]
			}
			if _, ok := digits(size, 18); !ok {
				continue
			}
			uri = u[:i]
		}
		p, err := url.Parse(uri)
		if err != nil || p.Scheme == "" || strings.ContainsAny(uri, " \t") ||
			(p.Opaque == "" && p.Host == "" && p.Path == "") {
			continue
		}
		uris = append(uris, u)
	}
	return uris
}

// recordTag is one tag of a DMARC record: its name in lower case and its
// value without the white space around it.
type recordTag struct{ name, value string }

// forgottenSemicolon finds, inside a tag's value, white space followed by
// the name of a DMARC tag and "=": a tag whose ";" was left out.
var forgottenSemicolon = regexp.MustCompile(`(?i)[ \t\r\n]+(?:v|p|sp|adkim|aspf|pct|fo|rf|ri|rua|ruf)[ \t\r\n]*=`)

// recordTags splits a DMARC record into its tags, in order (RFC 7489
// §6.4, the tag-list of RFC 6376 §3.2). Empty parts are left out; a part
// without "=" is a tag without a name, which no tag matches; a tag whose
// ";" was forgotten is split from the one before.
func recordTags(txt string) []recordTag {
	var tags []recordTag
	for part := range strings.SplitSeq(txt, ";") {
		for strings.TrimSpace(part) != "" {
			name, value, ok := strings.Cut(part, "=")
			if !ok {
				tags = append(tags, recordTag{value: strings.TrimSpace(part)})
				break
			}
			part = ""
			if loc := forgottenSemicolon.FindStringIndex(value); loc != nil {
				value, part = value[:loc[0]], value[loc[0]:]
			}
			tags = append(tags, recordTag{
				name:  strings.ToLower(strings.TrimSpace(name)),
				value: strings.TrimSpace(value),
			})
		}
	}
	return tags
}

// isVersionTag reports whether the first of tags is v=DMARC1 (RFC 7489
// §6.6.3 step 2; the value is case-sensitive, §6.4).
func isVersionTag(tags []recordTag) bool {
	return len(tags) > 0 && tags[0].name == "v" && tags[0].value == "DMARC1"
}

// isDMARCRecord reports whether a TXT record starts with v=DMARC1: whether
// it is a DMARC record at all, valid or not.
func isDMARCRecord(txt string) bool {
	return isVersionTag(recordTags(txt))
}
