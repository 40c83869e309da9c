package auth

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"regexp"
	"strings"
	"testing"
)

// canonicalBody returns body in the canonicalization of RFC 6376 §3.4.3
// (simple) or §3.4.4 (relaxed), read straight from the RFC over the whole
// body at once: the reference the streaming bodyHasher is held to. A lone
// LF is first made CRLF, as readers of mail do.
func canonicalBody(body string, relaxed bool) string {
	body = regexp.MustCompile(`\r?\n`).ReplaceAllString(body, "\r\n")
	if relaxed {
		// a. Ignore white space at the end of lines; reduce the rest to
		// one space.
		body = regexp.MustCompile(`[ \t]+\r\n`).ReplaceAllString(body, "\r\n")
		body = regexp.MustCompile(`[ \t]+`).ReplaceAllString(body, " ")
		// The last line's white space, before a CRLF that b. adds.
		body = strings.TrimRight(body, " ")
	}
	// b. Ignore empty lines at the end; end with one CRLF.
	for strings.HasSuffix(body, "\r\n") {
		body = strings.TrimSuffix(body, "\r\n")
	}
	if relaxed && body == "" {
		return "" // relaxed: an empty body stays empty
	}
	return body + "\r\n"
}

// recorder is a hash.Hash that keeps what is written to it.
type recorder struct{ bytes.Buffer }

func (r *recorder) Sum(b []byte) []byte { return append(b, r.Bytes()...) }
func (r *recorder) Size() int           { return 0 }
func (r *recorder) BlockSize() int      { return 1 }

// streamBody returns what bodyHasher makes of body written in pieces cut
// at the given offsets.
func streamBody(body string, relaxed bool, cuts []int) string {
	rec := &recorder{}
	b := &bodyHasher{relaxed: relaxed, h: rec}
	prev := 0
	for _, c := range cuts {
		if c > prev && c < len(body) {
			b.Write([]byte(body[prev:c]))
			prev = c
		}
	}
	b.Write([]byte(body[prev:]))
	b.sum()
	return rec.String()
}

// TestARCBodyCanonicalization covers RFC 6376 §3.4.3 and §3.4.4, with
// the example of §3.4.5, cut at every place: the streaming canonicalizer
// gives what the RFC's rules give for the whole body.
func TestARCBodyCanonicalization(t *testing.T) {
	for _, tc := range []struct {
		name            string
		body            string
		simple, relaxed string
	}{
		{"RFC 6376 §3.4.5 example", " C \r\nD \t E\r\n\r\n\r\n", " C \r\nD \t E\r\n", " C\r\nD E\r\n"},
		{"empty body", "", "\r\n", ""},
		{"only empty lines", "\r\n\r\n\r\n", "\r\n", ""},
		{"only white space", " \t\r\n \r\n", " \t\r\n \r\n", ""},
		{"no final CRLF", "a  b", "a  b\r\n", "a b\r\n"},
		{"white space at the very end", "a \t", "a \t\r\n", "a\r\n"},
		{"lone LFs", "a\nb \n\n", "a\r\nb \r\n", "a\r\nb\r\n"},
		{"lone CR kept", "a\rb\r", "a\rb\r\r\n", "a\rb\r\r\n"},
		{"CR before CRLF", "a\r\r\n", "a\r\r\n", "a\r\r\n"},
		{"white space before a lone CR", "a \rb", "a \rb\r\n", "a \rb\r\n"},
		{"empty lines inside kept", "a\r\n\r\n\r\nb\r\n", "a\r\n\r\n\r\nb\r\n", "a\r\n\r\n\r\nb\r\n"},
		{"line of white space inside", "a\r\n \t \r\nb", "a\r\n \t \r\nb\r\n", "a\r\n\r\nb\r\n"},
		{"leading white space", "\t a", "\t a\r\n", " a\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, relaxed := range []bool{false, true} {
				want := map[bool]string{false: tc.simple, true: tc.relaxed}[relaxed]
				if ref := canonicalBody(tc.body, relaxed); ref != want {
					t.Fatalf("reference (relaxed %v) = %q, want %q", relaxed, ref, want)
				}
				for cut := 0; cut <= len(tc.body); cut++ {
					if got := streamBody(tc.body, relaxed, []int{cut}); got != want {
						t.Errorf("relaxed %v, cut at %d: %q, want %q", relaxed, cut, got, want)
					}
				}
				h := sha256.Sum256([]byte(want))
				if got, err := hashBody(strings.NewReader(tc.body), relaxed); err != nil || !bytes.Equal(got, h[:]) {
					t.Errorf("hashBody (relaxed %v) = %x, %v; want %x", relaxed, got, err, h)
				}
			}
		})
	}
}

// FuzzARCBodyCanonicalization holds the streaming canonicalizer to the
// RFC's rules for any body cut anywhere.
func FuzzARCBodyCanonicalization(f *testing.F) {
	f.Add(" C \r\nD \t E\r\n\r\n\r\n", 3, 9)
	f.Add("a\r\r\n \n\r", 1, 2)
	f.Add("\r\n\r\n \t", 2, 4)
	f.Fuzz(func(t *testing.T, body string, cut1, cut2 int) {
		if cut2 < cut1 {
			cut1, cut2 = cut2, cut1
		}
		for _, relaxed := range []bool{false, true} {
			if got, want := streamBody(body, relaxed, []int{cut1, cut2}), canonicalBody(body, relaxed); got != want {
				t.Fatalf("body %q cut at %d, %d (relaxed %v): %q, want %q", body, cut1, cut2, relaxed, got, want)
			}
		}
	})
}

// TestARCHeaderCanonicalization covers RFC 6376 §3.4.1 and §3.4.2, and
// the removal of b= (§3.7).
func TestARCHeaderCanonicalization(t *testing.T) {
	for _, tc := range []struct{ in, simple, relaxed string }{
		{"A: X\r\n", "A: X\r\n", "a:X\r\n"},
		{"B : Y\t\r\n\tZ  \r\n", "B : Y\t\r\n\tZ  \r\n", "b:Y Z\r\n"},
		{"SUBJECT:\r\n  a  b \r\n", "SUBJECT:\r\n  a  b \r\n", "subject:a b\r\n"},
		{"X-Empty:\r\n", "X-Empty:\r\n", "x-empty:\r\n"},
		{"X-Empty: \t \r\n", "X-Empty: \t \r\n", "x-empty:\r\n"},
		{"X-Cr: a\rb\r\n", "X-Cr: a\rb\r\n", "x-cr:a\rb\r\n"},
	} {
		if got := canonicalField(tc.in, false); got != tc.simple {
			t.Errorf("simple %q = %q, want %q", tc.in, got, tc.simple)
		}
		if got := canonicalField(tc.in, true); got != tc.relaxed {
			t.Errorf("relaxed %q = %q, want %q", tc.in, got, tc.relaxed)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"ARC-Seal: i=1; b=abc\r\n", "ARC-Seal: i=1; b="},
		{"ARC-Seal: i=1; b=ab\r\n\tcd==\r\n", "ARC-Seal: i=1; b="},
		{"ARC-Seal: i=1; b = ab c ; d=x\r\n", "ARC-Seal: i=1; b =; d=x\r\n"},
		{"ARC-Seal: i=1;\r\n\tb=ab; bh=cd\r\n", "ARC-Seal: i=1;\r\n\tb=; bh=cd\r\n"},
		{"ARC-Message-Signature: bh=x; b=y; h=a:b\r\n", "ARC-Message-Signature: bh=x; b=; h=a:b\r\n"},
		{"ARC-Seal: i=1; bb=x; ab=y\r\n", "ARC-Seal: i=1; bb=x; ab=y\r\n"},
		{"ARC-Seal: i=1\r\n", "ARC-Seal: i=1\r\n"},
	} {
		if got := withoutSignature(tc.in); got != tc.want {
			t.Errorf("withoutSignature(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestARCHeaderPicking covers RFC 6376 §5.4.2: h= takes fields from the
// bottom up, each once, in any case; a name with no field left takes
// nothing.
func TestARCHeaderPicking(t *testing.T) {
	h := []headerField{{"To", "To: 1\r\n"}, {"from", "from: 2\r\n"}, {"To", "To: 3\r\n"}, {"X", "X: 4\r\n"}}
	got := strings.Join(pickFields(h, []string{"to", "From", "TO", "to", "Cc", "from"}), "")
	if want := "To: 3\r\nfrom: 2\r\nTo: 1\r\n"; got != want {
		t.Fatalf("picked %q, want %q", got, want)
	}
}

// TestARCReadHeader covers the header reader: fields with their folding,
// line ends, the end of the header, and its limit (ErrHeaderTooLarge) and
// errors (ErrMalformedHeader).
func TestARCReadHeader(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		fields   []headerField
		rest     string
		err      error
	}{
		{"CRLF", "A: 1\r\nB: 2\r\n\tmore\r\n\r\nbody", []headerField{{"A", "A: 1\r\n"}, {"B", "B: 2\r\n\tmore\r\n"}}, "body", nil},
		{"LF", "A: 1\nB: 2\n more\n\nbody\n", []headerField{{"A", "A: 1\r\n"}, {"B", "B: 2\r\n more\r\n"}}, "body\n", nil},
		{"no body", "A: 1\r\n", []headerField{{"A", "A: 1\r\n"}}, "", nil},
		{"no body, no final line end", "A: 1", []headerField{{"A", "A: 1\r\n"}}, "", nil},
		{"empty message", "", nil, "", nil},
		{"space before the colon", "A : 1\r\n\r\n", []headerField{{"A", "A : 1\r\n"}}, "", nil},
		{"continuation first", " A: 1\r\n\r\n", nil, "", ErrMalformedHeader},
		{"line without colon", "A: 1\r\nmore\r\n\r\n", nil, "", ErrMalformedHeader},
		{"empty name", ": 1\r\n\r\n", nil, "", ErrMalformedHeader},
		{"name with a space", "A B: 1\r\n\r\n", nil, "", ErrMalformedHeader},
		{"too large", "A: " + strings.Repeat("x", 100) + "\r\n\r\n", nil, "", ErrHeaderTooLarge},
		{"too large, one long line", strings.Repeat("x", 10000), nil, "", ErrHeaderTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(tc.in), 16)
			h, err := readRawHeader(br, 64)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if len(h) != len(tc.fields) {
				t.Fatalf("fields %q, want %q", h, tc.fields)
			}
			for k := range h {
				if h[k] != tc.fields[k] {
					t.Errorf("field %d = %q, want %q", k, h[k], tc.fields[k])
				}
			}
			if rest := readAll(t, br); rest != tc.rest {
				t.Errorf("rest %q, want %q", rest, tc.rest)
			}
		})
	}
}

// FuzzARCTagList checks parseTagList against the grammar of RFC 6376
// §3.2: what it reads has valid names and values without white space at
// their ends, and reads the same again once written out.
func FuzzARCTagList(f *testing.F) {
	for _, s := range []string{"i=1; a=rsa-sha256; b=ab\r\n cd", "v=DKIM1; p=", "a=1;;b=2;", "a=1; a=2", "1a=x", "a", " a = b c ; "} {
		f.Add(s)
	}
	name := regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)
	f.Fuzz(func(t *testing.T, s string) {
		tags, err := parseTagList(s)
		if err != nil {
			if !errors.Is(err, errTagList) {
				t.Fatalf("error %v does not wrap errTagList", err)
			}
			return
		}
		var b strings.Builder
		for n, v := range tags {
			if !name.MatchString(n) {
				t.Fatalf("%q: tag name %q", s, n)
			}
			if v != strings.Trim(v, " \t\r\n") || strings.ContainsAny(v, ";") {
				t.Fatalf("%q: value %q of %s", s, v, n)
			}
			b.WriteString(n + "=" + v + ";")
		}
		again, err := parseTagList(b.String())
		if err != nil || len(again) != len(tags) {
			t.Fatalf("%q read as %q, which reads as %q, %v", s, tags, again, err)
		}
		for n, v := range tags {
			if again[n] != v {
				t.Fatalf("%q read as %q, which reads as %q", s, tags, again)
			}
		}
	})
}
