package tlsrpt_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/ownmx/ownmx/tlsrpt"
)

// TestParseRecord reads the TXT records of RFC 8460 §3, valid and not.
func TestParseRecord(t *testing.T) {
	valid := []struct {
		txt string
		rua []string
	}{
		// RFC 8460 §3.1's examples.
		{"v=TLSRPTv1;rua=mailto:reports@example.com", []string{"mailto:reports@example.com"}},
		{"v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt", []string{"https://reporting.example.com/v1/tlsrpt"}},
		// field-delim is *WSP ";" *WSP, with an optional final one.
		{"v=TLSRPTv1 ;\trua=mailto:a@example.com ; ", []string{"mailto:a@example.com"}},
		{"v=TLSRPTv1; rua=mailto:a@example.com;", []string{"mailto:a@example.com"}},
		// Several URIs, separated by "," with optional white space.
		{"v=TLSRPTv1; rua=mailto:a@example.com, https://r.example.com/x,mailto:b@example.org",
			[]string{"mailto:a@example.com", "https://r.example.com/x", "mailto:b@example.org"}},
		// Extensions are ignored, wherever they are.
		{"v=TLSRPTv1; ext_1.a-b=yes; rua=mailto:a@example.com; x=1", []string{"mailto:a@example.com"}},
		{"v=TLSRPTv1; rua=MAILTO:a@example.com", []string{"MAILTO:a@example.com"}},
		{"v=TLSRPTv1; rua=mailto:a%40example.com", []string{"mailto:a%40example.com"}},
	}
	for _, tc := range valid {
		rec, err := tlsrpt.ParseRecord(tc.txt)
		if err != nil {
			t.Errorf("%q: %v", tc.txt, err)
			continue
		}
		if !reflect.DeepEqual(rec.RUA, tc.rua) {
			t.Errorf("%q: rua %q, want %q", tc.txt, rec.RUA, tc.rua)
		}
		if !tlsrpt.IsRecord(tc.txt) {
			t.Errorf("%q: IsRecord false", tc.txt)
		}
	}

	for _, txt := range []string{
		"",
		"v=TLSRPTv1",
		"v=TLSRPTv1;",
		"v=TLSRPTv1; ;rua=mailto:a@example.com", // an empty field
		"v=TLSRPTv1 rua=mailto:a@example.com",   // no ";"
		" v=TLSRPTv1; rua=mailto:a@example.com",
		"v=tlsrptv1; rua=mailto:a@example.com", // %s: case-sensitive
		"v=TLSRPTv2; rua=mailto:a@example.com",
		"v=STSv1; rua=mailto:a@example.com",
		"rua=mailto:a@example.com; v=TLSRPTv1",
		"v=TLSRPTv1; rua=",
		"v=TLSRPTv1; rua",
		"v=TLSRPTv1; rua=mailto:a@example.com; rua=mailto:b@example.com",
		"v=TLSRPTv1; rua=mailto:a@example.com; v=TLSRPTv1",
		"v=TLSRPTv1; rua=mailto:nobody",
		"v=TLSRPTv1; rua=mailto:",
		"v=TLSRPTv1; rua=mailto:Alice <a@example.com>",
		"v=TLSRPTv1; rua=http://r.example.com/plain",
		"v=TLSRPTv1; rua=ftp://r.example.com",
		"v=TLSRPTv1; rua=https:///no-host",
		"v=TLSRPTv1; rua=a@example.com",
		"v=TLSRPTv1; rua=mailto:a@example.com,",
		"v=TLSRPTv1; rua=mailto:a@example.com,,https://r.example.com",
		"v=TLSRPTv1; rua=https://r.example.com/a b",
		"v=TLSRPTv1; rua=mailto:a@exämple.com",
		"v=TLSRPTv1; rua=mailto:a@example.com; junk",
		"v=TLSRPTv1; rua=mailto:a@example.com; x=",
		"v=TLSRPTv1; rua=mailto:a@example.com; x=a=b",
		"v=TLSRPTv1; rua=mailto:a@example.com; _x=1",
		"v=TLSRPTv1; rua=mailto:a@example.com; x=\x01",
		"v=TLSRPTv1; rua=mailto:a@example.com; abcdefghijabcdefghijabcdefghijabc=1", // a 33-byte name
	} {
		rec, err := tlsrpt.ParseRecord(txt)
		var re *tlsrpt.RecordError
		if err == nil || !errors.As(err, &re) || re.Record != txt {
			t.Errorf("%q: %+v, %v; want a *RecordError", txt, rec, err)
		}
	}
}

// TestIsRecord tells records senders consider from those they discard
// (RFC 8460 §3).
func TestIsRecord(t *testing.T) {
	for txt, want := range map[string]bool{
		"v=TLSRPTv1; rua=mailto:a@example.com":  true,
		"v=TLSRPTv1;rua=mailto:a@example.com":   true,
		"v=TLSRPTv1":                            true,
		"v=TLSRPTv10; rua=mailto:a@example.com": false,
		"v=spf1 -all":                           false,
		"google-site-verification=abc":          false,
		"":                                      false,
	} {
		if got := tlsrpt.IsRecord(txt); got != want {
			t.Errorf("IsRecord(%q) = %v, want %v", txt, got, want)
		}
	}
}
