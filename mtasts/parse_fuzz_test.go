package mtasts_test

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ownmx/ownmx/mtasts"
)

// The grammar of RFC 8461 §3.2 in regular expressions, for referenceParse.
var (
	refLineRE    = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9_.-]{0,31}):[ \t]*(.+)$`)
	refControlRE = regexp.MustCompile("[\x00-\x08\x0a-\x1f\x7f]")
	refMaxAgeRE  = regexp.MustCompile(`^[0-9]{1,10}$`)
	refMXRE      = regexp.MustCompile(`^(\*\.)?((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)\.?$`)
)

// referenceParse is Parse written plainly, line by line with regular
// expressions: it returns the policy, or nil where Parse must fail.
func referenceParse(data string) *mtasts.Policy {
	if len(data) > mtasts.MaxPolicySize || strings.TrimSpace(data) == "" {
		return nil
	}
	lines := strings.Split(strings.TrimSuffix(data, "\n"), "\n")
	if len(lines) > mtasts.MaxPolicyLines {
		return nil
	}
	p := &mtasts.Policy{}
	count := map[string]int{}
	for _, line := range lines {
		line = strings.TrimSuffix(line, "\r")
		if !utf8.ValidString(line) || refControlRE.MatchString(line) {
			return nil
		}
		line = strings.Trim(line, " \t")
		if line == "" {
			continue
		}
		m := refLineRE.FindStringSubmatch(line)
		if m == nil {
			return nil
		}
		key, value := m[1], m[2]
		count[key]++
		switch key {
		case "version":
			if value != "STSv1" {
				return nil
			}
		case "mode":
			if value != "enforce" && value != "testing" && value != "none" {
				return nil
			}
			p.Mode = mtasts.Mode(value)
		case "max_age":
			if !refMaxAgeRE.MatchString(value) {
				return nil
			}
			n, _ := strconv.Atoi(value)
			if n > 31557600 {
				return nil
			}
			p.MaxAge = time.Duration(n) * time.Second
		case "mx":
			mm := refMXRE.FindStringSubmatch(value)
			if mm == nil || len(mm[2]) > 253 {
				return nil
			}
			p.MX = append(p.MX, strings.ToLower(mm[1]+mm[2]))
		}
	}
	if count["version"] != 1 || count["mode"] != 1 || count["max_age"] != 1 || len(p.MX) == 0 && p.Mode != mtasts.None {
		return nil
	}
	return p
}

// formatPolicy writes p as a policy file.
func formatPolicy(p *mtasts.Policy) string {
	return policyText(p.Mode, int(p.MaxAge/time.Second), p.MX...)
}

// Parse never panics, accepts exactly what the reference accepts, reads
// the same policy from it, and reads back what it wrote.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 86400\r\n",
		"version: STSv1\nmode: none\nmax_age: 0\n",
		"version: STSv1\nmode: testing\nmx: MX.example.com.\nfoo: bar baz\nmax_age: 31557600",
		"version: STSv1\nmode: testing\nmode: testing\nmx: a\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: *.\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: xn--bcher-kva.example\nmax_age: 31557601\n",
		"version:STSv1\n\n  mode:\tenforce \r\nmx: a\rb\nmax_age: 1",
		"<html>\n",
		"version: STSv1\nmode: enforce\nmx: bücher.example\nmax_age: 1\n\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := mtasts.Parse(strings.NewReader(string(data)))
		want := referenceParse(string(data))
		if (err == nil) != (want != nil) {
			t.Fatalf("Parse(%q) = %+v, %v; the reference says %+v", data, got, err, want)
		}
		if err != nil {
			if err.Error() == "" || !strings.HasPrefix(err.Error(), "mtasts: policy") {
				t.Fatalf("Parse(%q) error %q does not say it is the policy", data, err)
			}
			return
		}
		if got.Mode != want.Mode || got.MaxAge != want.MaxAge || !slices.Equal(got.MX, want.MX) {
			t.Fatalf("Parse(%q) = %+v, the reference reads %+v", data, got, want)
		}
		again, err := mtasts.Parse(strings.NewReader(formatPolicy(got)))
		if err != nil || again.Mode != got.Mode || again.MaxAge != got.MaxAge || !slices.Equal(again.MX, got.MX) {
			t.Fatalf("policy %+v written and read back: %+v, %v", got, again, err)
		}
	})
}

// refRecordRE is the grammar of RFC 8461 §3.1, with white space allowed at
// the end as ParseRecord allows it.
var (
	refRecordRE = regexp.MustCompile(`^v=STSv1((?:[ \t]*;[ \t]*[A-Za-z0-9][A-Za-z0-9_.-]{0,31}=[\x21-\x3a\x3c\x3e-\x7e]+)+)[ \t]*(?:;[ \t]*)?$`)
	refIDRE     = regexp.MustCompile(`^[A-Za-z0-9]{1,32}$`)
)

// referenceRecord is ParseRecord written plainly with regular expressions:
// the id, or "" where ParseRecord must fail.
func referenceRecord(txt string) string {
	m := refRecordRE.FindStringSubmatch(txt)
	if m == nil {
		return ""
	}
	var ids []string
	for field := range strings.SplitSeq(m[1], ";") {
		name, value, _ := strings.Cut(strings.Trim(field, " \t"), "=")
		switch name {
		case "v":
			return ""
		case "id":
			ids = append(ids, value)
		}
	}
	if len(ids) != 1 || !refIDRE.MatchString(ids[0]) {
		return ""
	}
	return ids[0]
}

// ParseRecord never panics and agrees with the reference.
func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{
		"v=STSv1; id=20160831085700Z;", "v=STSv1;id=a;", "v=STSv1 ; id=a ; x=y ;  ",
		"v=STSv1; id=a; id=b", "v=STSv1;; id=a", "v=STSv1; id=a-b", "v=STSv10; id=a", "v=STSv1; v=x; id=a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, txt string) {
		id, err := mtasts.ParseRecord(txt)
		want := referenceRecord(txt)
		if id != want || (err == nil) != (want != "") {
			t.Fatalf("ParseRecord(%q) = %q, %v; the reference says %q", txt, id, err, want)
		}
	})
}
