package srs

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ownmx/ownmx/smtpd"
)

// A simple reference for what Forward takes and what comes back, written
// from RFC 5321 §4.1.2 with the UTF-8 of RFC 6531 §3.3, independently of
// the package's parser.
var (
	refAtom     = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~\\-\\x{80}-\\x{10FFFF}]+"
	refDot      = regexp.MustCompile(`^` + refAtom + `(\.` + refAtom + `)*$`)
	refQuoted   = regexp.MustCompile(`^"(?:[ !#-\[\]-~\x{80}-\x{10FFFF}]|\\[ -~])+"$`)
	refPair     = regexp.MustCompile(`\\([ -~])`)
	refHost     = regexp.MustCompile(`^[!#-<>?A-\[\]-~]+$`) // printable ASCII but " = @ \
	refSRSLocal = regexp.MustCompile(`^(?i:SRS([01]))([=+-])(.*)$`)
)

// refSplit returns the local part (unquoted) and domain of addr, or ok
// false when Forward must refuse addr.
func refSplit(addr string) (local, domain string, ok bool) {
	if !utf8.ValidString(addr) {
		return "", "", false
	}
	at := strings.LastIndex(addr, "@")
	if at < 0 {
		return "", "", false
	}
	raw, domain := addr[:at], addr[at+1:]
	if strings.ContainsFunc(domain, func(r rune) bool { return r >= 0x80 }) {
		// U-labels are carried in A-labels: smtpd.ToASCII is the
		// project's one definition of them.
		a, err := smtpd.ToASCII(domain)
		if err != nil {
			return "", "", false
		}
		domain = a
	}
	if !refHost.MatchString(domain) {
		return "", "", false
	}
	switch {
	case refDot.MatchString(raw):
		return raw, domain, true
	case refQuoted.MatchString(raw):
		return refPair.ReplaceAllString(raw[1:len(raw)-1], "$1"), domain, true
	}
	return "", "", false
}

// refQuote writes local as a dot-string when it is one, else quoted.
func refQuote(local string) string {
	if refDot.MatchString(local) {
		return local
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(local) + `"`
}

// refForward returns what Reverse(Forward(from)) must give, the length of
// the local part Forward must make, and whether from stays as it is.
func refForward(from, fwd string) (back string, length int, same bool) {
	local, domain, _ := refSplit(from)
	if strings.EqualFold(domain, fwd) {
		return from, 0, true
	}
	m := refSRSLocal.FindStringSubmatch(local)
	switch {
	case m != nil && m[1] == "0":
		return refQuote("SRS0"+m[2]+m[3]) + "@" + domain, len(refQuote("SRS1=HHHH=" + domain + "=" + m[2] + m[3])), false
	case m != nil && m[1] == "1":
		parts := strings.SplitN(m[3], "=", 3)
		if len(parts) == 3 && parts[0] != "" && refHost.MatchString(parts[1]) && parts[2] != "" {
			return refQuote("SRS0"+parts[2]) + "@" + parts[1], len(refQuote("SRS1=HHHH=" + parts[1] + "=" + parts[2])), false
		}
	}
	return refQuote(local) + "@" + domain, len(refQuote("SRS0=HHHH=TT=" + domain + "=" + local)), false
}

// FuzzForward: for every sender the reference takes, Reverse(Forward(x))
// is x in its plainest form (or, for another forwarder's SRS1, the SRS0
// at the first forwarder), and Forward refuses a local part over 64
// octets; every other sender is refused. Nothing panics.
func FuzzForward(f *testing.F) {
	for _, v := range vectors {
		f.Add(v.from)
	}
	for _, s := range []string{"", "alice@fwd.example", `"john doe"@example.com`, `"a\"b"@x.example`, "用户@example.com",
		"root@[192.0.2.1]", "SRS1=h=first.example==HHHH=TT=d=l@fwd1.example", "srs0+x@d", "a..b@c", `""@d`, "a@b@c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, from string) {
		r := atTestNow()
		got, err := r.Forward(from)
		if from == "" {
			if got != "" || err != nil {
				t.Fatalf(`Forward("") = %q, %v`, got, err)
			}
			return
		}
		if _, _, ok := refSplit(from); !ok {
			if err == nil {
				t.Fatalf("Forward(%q) = %q, want an error", from, got)
			}
			return
		}
		back, length, same := refForward(from, "fwd.example")
		switch {
		case same:
			if got != from || err != nil {
				t.Fatalf("Forward(%q) = %q, %v; want it unchanged", from, got, err)
			}
			return
		case length > 64:
			if !errors.Is(err, ErrTooLong) {
				t.Fatalf("Forward(%q) = %q, %v; want ErrTooLong (%d octets)", from, got, err, length)
			}
			return
		case err != nil:
			t.Fatalf("Forward(%q): %v", from, err)
		}
		local := strings.TrimSuffix(got, "@fwd.example")
		if len(local) != length || !IsSRS(got) || local == got {
			t.Fatalf("Forward(%q) = %q, want an SRS local part of %d octets at fwd.example", from, got, length)
		}
		if rev, err := r.Reverse(got); rev != back || err != nil {
			t.Fatalf("Reverse(Forward(%q) = %q) = %q, %v; want %q", from, got, rev, err, back)
		}
	})
}

// FuzzReverse: whatever arrives, Reverse answers with one of its errors
// or an address, and never panics.
func FuzzReverse(f *testing.F) {
	r := atTestNow()
	for _, v := range vectors {
		f.Add(v.srs)
	}
	for _, from := range []string{`"john doe"@example.com`, "用户@bücher.example"} {
		a, _ := r.Forward(from)
		f.Add(a)
	}
	for _, s := range []string{"", "@", "SRS0=", "SRS0=@fwd.example", "SRS1==@fwd.example", "SRS1=a==@fwd.example",
		`"SRS0=a=b=c=d@fwd.example`, `"SRS0\`, "SRS0=tKkJ=B=example.com=alice@fwd.example", "SRS0=====@fwd.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rcpt string) {
		got, err := r.Reverse(rcpt)
		switch {
		case err == nil:
			if got == "" || !IsSRS(rcpt) || !strings.Contains(got, "@") {
				t.Fatalf("Reverse(%q) = %q", rcpt, got)
			}
		case !errors.Is(err, ErrNotSRS) && !errors.Is(err, ErrForged) && !errors.Is(err, ErrExpired):
			t.Fatalf("Reverse(%q): %v is none of the package's errors", rcpt, err)
		case got != "":
			t.Fatalf("Reverse(%q) = %q with error %v", rcpt, got, err)
		}
	})
}
