package mtasts_test

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ownmx/ownmx/mtasts"
)

// lines joins lines with LF and ends the last one.
func lines(l ...string) string { return strings.Join(l, "\n") + "\n" }

// RFC 8461 §3.2: policies that parse, and what they hold.
func TestParseValid(t *testing.T) {
	enforce := &mtasts.Policy{Mode: mtasts.Enforce, MX: []string{"mail.example.com", "*.example.net"}, MaxAge: 86400 * time.Second}
	tests := []struct {
		name string
		in   string
		want *mtasts.Policy
	}{
		{"RFC example, CRLF", "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 86400\r\n", enforce},
		{"LF", "version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmax_age: 86400\n", enforce},
		{"CRLF and LF mixed", "version: STSv1\r\nmode: enforce\nmx: mail.example.com\r\nmx: *.example.net\nmax_age: 86400\r\n", enforce},
		{"no final line break", "version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmax_age: 86400", enforce},
		{"no final line break, CR kept", "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 86400\r", enforce},
		{"fields in any order", lines("max_age: 86400", "mx: mail.example.com", "mode: enforce", "mx: *.example.net", "version: STSv1"), enforce},
		{"no space after the colon", lines("version:STSv1", "mode:enforce", "mx:mail.example.com", "mx:*.example.net", "max_age:86400"), enforce},
		{"tabs and spaces around values", lines("version:\tSTSv1 ", "mode:   enforce\t", "  mx: mail.example.com", "\tmx: *.example.net", "max_age: 86400  "), enforce},
		{"blank lines", "\n" + lines("version: STSv1", "", "mode: enforce", "  ", "mx: mail.example.com", "mx: *.example.net", "max_age: 86400") + "\r\n\n", enforce},
		{"unknown keys ignored", lines("version: STSv1", "mode: enforce", "foo: bar", "x_y.z-1: any value, even: colons é", "mx: mail.example.com",
			"Mode: none", "mx: *.example.net", "max_age: 86400", "0: 0", strings.Repeat("k", 32)+": v"), enforce},
		{"mx in upper case or with a final dot", lines("version: STSv1", "mode: enforce", "mx: MAIL.Example.COM.", "mx: *.EXAMPLE.net", "max_age: 86400"), enforce},
		{"testing", policyText(mtasts.Testing, 604800, "mx.example.com"),
			&mtasts.Policy{Mode: mtasts.Testing, MX: []string{"mx.example.com"}, MaxAge: 604800 * time.Second}},
		{"none without mx", policyText(mtasts.None, 86400),
			&mtasts.Policy{Mode: mtasts.None, MaxAge: 86400 * time.Second}},
		// RFC 8461 §3.2 requires mx lines "except when mode is none", and
		// forbids none there: they are kept, and change nothing.
		{"none with mx", policyText(mtasts.None, 86400, "mx.example.com"),
			&mtasts.Policy{Mode: mtasts.None, MX: []string{"mx.example.com"}, MaxAge: 86400 * time.Second}},
		{"max_age 0", policyText(mtasts.Enforce, 0, "mx.example.com"),
			&mtasts.Policy{Mode: mtasts.Enforce, MX: []string{"mx.example.com"}}},
		{"max_age at its maximum", policyText(mtasts.Enforce, 31557600, "mx.example.com"),
			&mtasts.Policy{Mode: mtasts.Enforce, MX: []string{"mx.example.com"}, MaxAge: mtasts.MaxMaxAge}},
		{"max_age of 10 digits with leading zeros", lines("version: STSv1", "mode: enforce", "mx: mx.example.com", "max_age: 0000086400"),
			&mtasts.Policy{Mode: mtasts.Enforce, MX: []string{"mx.example.com"}, MaxAge: 86400 * time.Second}},
		{"A-labels, single label, digits", policyText(mtasts.Enforce, 60, "xn--bcher-kva.example", "*.xn--mnchen-3ya.de", "localhost", "123.example", "a-b.c"),
			&mtasts.Policy{Mode: mtasts.Enforce, MX: []string{"xn--bcher-kva.example", "*.xn--mnchen-3ya.de", "localhost", "123.example", "a-b.c"}, MaxAge: time.Minute}},
		{"longest label and name", policyText(mtasts.Enforce, 60, strings.Repeat("a", 63)+".example", name253),
			&mtasts.Policy{Mode: mtasts.Enforce, MX: []string{strings.Repeat("a", 63) + ".example", name253}, MaxAge: time.Minute}},
		{"exactly MaxPolicySize bytes", padTo(policyText(mtasts.Enforce, 60, "mx.example.com"), mtasts.MaxPolicySize),
			&mtasts.Policy{Mode: mtasts.Enforce, MX: []string{"mx.example.com"}, MaxAge: time.Minute}},
		{"exactly MaxPolicyLines lines", policyText(mtasts.Enforce, 60, "mx.example.com") + strings.Repeat("\n", mtasts.MaxPolicyLines-4),
			&mtasts.Policy{Mode: mtasts.Enforce, MX: []string{"mx.example.com"}, MaxAge: time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mtasts.Parse(strings.NewReader(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Parse = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// policyText returns a policy file with LF line ends.
func policyText(mode mtasts.Mode, maxAge int, mx ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "version: STSv1\nmode: %s\n", mode)
	for _, m := range mx {
		fmt.Fprintf(&b, "mx: %s\n", m)
	}
	fmt.Fprintf(&b, "max_age: %d\n", maxAge)
	return b.String()
}

// padTo appends unknown-key lines of at most 1000 bytes to policy until it
// is size bytes long.
func padTo(policy string, size int) string {
	var b strings.Builder
	b.WriteString(policy)
	for b.Len() < size {
		n := min(size-b.Len(), 1000)
		if n < 5 { // too short for "x: y\n": lengthen the line before
			s := b.String()
			return s[:len(s)-1] + strings.Repeat("y", n) + "\n"
		}
		b.WriteString("x: " + strings.Repeat("y", n-4) + "\n")
	}
	return b.String()
}

// RFC 8461 §3.2: every way a policy can be malformed, with the line that
// the error names (0: none) and words it must contain.
func TestParseMalformed(t *testing.T) {
	ok := []string{"version: STSv1", "mode: enforce", "mx: mx.example.com", "max_age: 86400"}
	// with returns the valid policy with its line i replaced by line.
	with := func(i int, line string) string {
		l := append([]string(nil), ok...)
		l[i] = line
		return lines(l...)
	}
	// without returns the valid policy without its line i.
	without := func(i int) string {
		l := append([]string(nil), ok[:i]...)
		return lines(append(l, ok[i+1:]...)...)
	}
	tests := []struct {
		name string
		in   string
		line int
		msg  string
	}{
		// Required fields.
		{"empty", "", 0, "empty"},
		{"only white space", " \r\n\t\n\n", 0, "empty"},
		{"no version", without(0), 0, "no version"},
		{"no mode", without(1), 0, "no mode"},
		{"no max_age", without(3), 0, "no max_age"},
		{"no mx in enforce", without(2), 0, "no mx"},
		{"no mx in testing", lines("version: STSv1", "mode: testing", "max_age: 1"), 0, "no mx"},
		{"key in another case is another key", with(1, "Mode: enforce"), 0, "no mode"},
		{"HTML page", "<!DOCTYPE html>\n<html><body>mode: enforce</body></html>\n", 1, "not a key: value"},

		// Field values.
		{"version STSv2", with(0, "version: STSv2"), 1, `version "STSv2" is not STSv1`},
		{"version in lower case", with(0, "version: stsv1"), 1, "is not STSv1"},
		{"version with more", with(0, "version: STSv1 STSv2"), 1, "is not STSv1"},
		{"mode in upper case", with(1, "mode: Enforce"), 2, `mode "Enforce" is not enforce, testing or none`},
		{"mode reject", with(1, "mode: reject"), 2, "is not enforce"},
		{"two modes on a line", with(1, "mode: enforce testing"), 2, "is not enforce"},
		{"max_age over the maximum", with(3, "max_age: 31557601"), 4, "over 31557600"},
		{"max_age of 10 digits over the maximum", with(3, "max_age: 9999999999"), 4, "over 31557600"},
		{"max_age of 11 digits", with(3, "max_age: 00000086400"), 4, "not 1 to 10 digits"},
		{"max_age overflowing int64", with(3, "max_age: 99999999999999999999"), 4, "not 1 to 10 digits"},
		{"max_age negative", with(3, "max_age: -1"), 4, "not 1 to 10 digits"},
		{"max_age with a sign", with(3, "max_age: +1"), 4, "not 1 to 10 digits"},
		{"max_age with an exponent", with(3, "max_age: 1e3"), 4, "not 1 to 10 digits"},
		{"max_age with a fraction", with(3, "max_age: 1.5"), 4, "not 1 to 10 digits"},
		{"max_age in hex", with(3, "max_age: 0x10"), 4, "not 1 to 10 digits"},
		{"max_age with a unit", with(3, "max_age: 86400s"), 4, "not 1 to 10 digits"},
		{"max_age with a space inside", with(3, "max_age: 86 400"), 4, "not 1 to 10 digits"},
		{"empty value", with(1, "mode:"), 2, "mode has no value"},
		{"empty value of an unknown key", lines(append(ok, "foo:  ")...), 5, "foo has no value"},

		// Duplicates: version, mode and max_age are "required once".
		{"version twice", lines(append(ok, "version: STSv1")...), 5, "second version line (the first is line 1)"},
		{"mode twice", lines(append(ok, "mode: enforce")...), 5, "second mode line (the first is line 2)"},
		{"mode twice, different", lines(append(ok, "mode: none")...), 5, "second mode"},
		{"max_age twice", lines(append(ok, "max_age: 86400")...), 5, "second max_age line (the first is line 4)"},

		// mx patterns: ["*."] Domain (RFC 5321 §4.1.2), in A-labels.
		{"mx wildcard alone", with(2, "mx: *"), 3, `mx "*" is not`},
		{"mx wildcard and dot", with(2, "mx: *."), 3, `mx "*." is not`},
		{"mx wildcard without dot", with(2, "mx: *example.com"), 3, "is not a host name"},
		{"mx wildcard inside", with(2, "mx: a.*.example.com"), 3, "is not a host name"},
		{"mx two wildcards", with(2, "mx: *.*.example.com"), 3, "is not a host name"},
		{"mx wildcard label", with(2, "mx: m*.example.com"), 3, "is not a host name"},
		{"mx empty label", with(2, "mx: mx..example.com"), 3, "is not a host name"},
		{"mx leading dot", with(2, "mx: .example.com"), 3, "is not a host name"},
		{"mx two final dots", with(2, "mx: example.com.."), 3, "is not a host name"},
		{"mx dot alone", with(2, "mx: ."), 3, "is not a host name"},
		{"mx underscore", with(2, "mx: mx_1.example.com"), 3, "is not a host name"},
		{"mx leading hyphen", with(2, "mx: -mx.example.com"), 3, "is not a host name"},
		{"mx trailing hyphen", with(2, "mx: mx-.example.com"), 3, "is not a host name"},
		{"mx space inside", with(2, "mx: mx example.com"), 3, "is not a host name"},
		{"mx two names", with(2, "mx: a.example.com b.example.com"), 3, "is not a host name"},
		{"mx with a port", with(2, "mx: mx.example.com:25"), 3, "is not a host name"},
		{"mx address literal", with(2, "mx: [192.0.2.1]"), 3, "is not a host name"},
		{"mx U-label", with(2, "mx: bücher.example"), 3, "A-labels"},
		{"mx fullwidth letters", with(2, "mx: ｍx.example.com"), 3, "is not a host name"},
		{"mx label of 64", with(2, "mx: "+strings.Repeat("a", 64)+".example"), 3, "is not a host name"},
		{"mx name of 254", with(2, "mx: "+name253+"b"), 3, "is not a host name"},

		// Lines and keys.
		{"no colon", with(1, "mode enforce"), 2, `"mode enforce" is not a key: value line`},
		{"equals sign", with(1, "mode=enforce"), 2, "not a key: value line"},
		{"space before the colon", with(1, "mode : enforce"), 2, `key "mode " is not`},
		{"empty key", with(1, ": enforce"), 2, `key "" is not`},
		{"key starting with '_'", lines(append(ok, "_x: y")...), 5, `key "_x"`},
		{"key of 33", lines(append(ok, strings.Repeat("k", 33)+": y")...), 5, "is not 1 to 32"},
		{"key with '/'", lines(append(ok, "a/b: y")...), 5, `key "a/b"`},
		{"NUL", with(1, "mode: enf\x00orce"), 2, "control character 0x00"},
		{"ESC", lines(append(ok, "x: \x1b[31m")...), 5, "control character 0x1b"},
		{"DEL", lines(append(ok, "x: \x7f")...), 5, "control character 0x7f"},
		{"vertical tab", lines(append(ok, "x:\vy")...), 5, "control character 0x0b"},
		{"form feed line", "version: STSv1\n\f\n", 2, "control character 0x0c"},
		{"CR alone ends no line", "version: STSv1\rmode: enforce\rmx: mx.example.com\rmax_age: 86400\r", 1, "CR not followed by LF"},
		{"CR CR LF", "version: STSv1\r\r\nmode: enforce\n", 1, "CR not followed by LF"},
		{"not UTF-8", lines(append(ok, "x: \xff")...), 5, "not UTF-8"},
		{"overlong UTF-8", lines(append(ok, "x: \xc0\xaf")...), 5, "not UTF-8"},

		// Size: RFC 8461 §3.3 suggests 64 KiB at most.
		{"one byte over MaxPolicySize", padTo(lines(ok...), mtasts.MaxPolicySize+1), 0, "larger than 65536 bytes"},
		{"a megabyte", padTo(lines(ok...), 1<<20), 0, "larger than 65536 bytes"},
		{"one line over MaxPolicyLines", lines(ok...) + strings.Repeat("\n", mtasts.MaxPolicyLines-3), 0, "more than 1000 lines"},
		{"mx lines over MaxPolicyLines", lines(ok...) + strings.Repeat("mx: a.b\n", mtasts.MaxPolicyLines), 0, "more than 1000 lines"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := mtasts.Parse(strings.NewReader(tt.in))
			if err == nil {
				t.Fatalf("Parse = %+v, want an error", p)
			}
			var se *mtasts.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is a %T, not a *SyntaxError", err, err)
			}
			if se.Line != tt.line || !strings.Contains(err.Error(), tt.msg) || !strings.HasPrefix(err.Error(), "mtasts: policy") {
				t.Fatalf("error %q (line %d), want line %d and %q", err, se.Line, tt.line, tt.msg)
			}
		})
	}
}

// A reader's error is returned as it is, wrapped.
func TestParseReadError(t *testing.T) {
	broken := errors.New("connection reset")
	_, err := mtasts.Parse(io.MultiReader(strings.NewReader("version: STSv1\n"), errReader{broken}))
	if !errors.Is(err, broken) {
		t.Fatalf("Parse: %v, want %v", err, broken)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// Parse stops reading at one byte over MaxPolicySize: an endless body
// costs no more.
func TestParseReadsNoMoreThanTheLimit(t *testing.T) {
	r := &countingReader{}
	if _, err := mtasts.Parse(r); err == nil {
		t.Fatal("Parse of an endless policy succeeded")
	}
	if r.n > mtasts.MaxPolicySize+1 {
		t.Fatalf("Parse read %d bytes, want at most %d", r.n, mtasts.MaxPolicySize+1)
	}
}

// countingReader is an endless stream of "x: y" lines that counts the
// bytes read from it.
type countingReader struct{ n int }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = "x: y\n"[(r.n+i)%5]
	}
	r.n += len(p)
	return len(p), nil
}
