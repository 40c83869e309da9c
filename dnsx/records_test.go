package dnsx_test

import (
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/ownmx/ownmx/dnsx"
)

// TestZoneLineLongTXT: a TXT record longer than one character-string
// holds (255 octets, RFC 1035 §3.3) is written as several strings, which a
// zone-file parser (miekg/dns) reads back as the record's content.
// (FuzzTXTEscape covers quotes and backslashes.)
func TestZoneLineLongTXT(t *testing.T) {
	for _, n := range []int{0, 1, 254, 255, 256, 410, 510, 511, 1000} {
		content := strings.Repeat("p=MIIB+/9", n/9+1)[:n]
		line := dnsx.Record{Type: "TXT", Name: "sel._domainkey.example.com", Content: content}.ZoneLine()
		rr, err := dns.NewRR(line)
		if err != nil {
			t.Fatalf("%d octets: %q does not parse: %v", n, line, err)
		}
		txt := rr.(*dns.TXT).Txt
		for _, s := range txt {
			if len(s) > 255 {
				t.Errorf("%d octets: a string of %d", n, len(s))
			}
		}
		if want := (n + 254) / 255; n > 0 && len(txt) != want {
			t.Errorf("%d octets: %d strings, want %d", n, len(txt), want)
		}
		if got := strings.Join(txt, ""); got != content {
			t.Errorf("%d octets: read back %q", n, got)
		}
	}
}
