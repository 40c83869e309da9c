package mtasts_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ownmx/ownmx/mtasts"
)

func TestRecords(t *testing.T) {
	p := &mtasts.Policy{Mode: mtasts.Enforce, MX: []string{"mx.example.com"}, MaxAge: 14 * 24 * time.Hour}
	txt, err := mtasts.RecordText(p)
	if err != nil {
		t.Fatal(err)
	}
	ips := []netip.Addr{netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("::ffff:192.0.2.8"), netip.MustParseAddr("2001:db8::7")}
	for _, tc := range []struct {
		rua  string
		want []string
	}{
		{"", []string{
			`_mta-sts.example.com. 3600 IN TXT "` + txt + `"`,
			"mta-sts.example.com. 3600 IN A 192.0.2.7",
			"mta-sts.example.com. 3600 IN A 192.0.2.8",
			"mta-sts.example.com. 3600 IN AAAA 2001:db8::7",
		}},
		{"tlsrpt@example.com", nil},
		{"mailto:tlsrpt@example.com", nil},
		{"https://reports.example.com/tlsrpt", nil},
	} {
		recs, err := mtasts.Records("Example.COM.", p, ips, tc.rua)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, r := range recs {
			lines = append(lines, r.ZoneLine())
			if (r.Type == "A" || r.Type == "AAAA") && !strings.Contains(r.Note, "certificate") {
				t.Errorf("rua %q: %s has note %q, want one about the certificate", tc.rua, r.ZoneLine(), r.Note)
			}
		}
		if tc.rua == "" {
			if strings.Join(lines, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("Records =\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(tc.want, "\n"))
			}
			continue
		}
		uri := tc.rua
		if !strings.Contains(uri, ":") {
			uri = "mailto:" + uri
		}
		want := `_smtp._tls.example.com. 3600 IN TXT "v=TLSRPTv1; rua=` + uri + `"`
		if len(lines) != 5 || lines[4] != want {
			t.Errorf("rua %q: Records =\n%s\nwant last %s", tc.rua, strings.Join(lines, "\n"), want)
		}
	}
	if _, err := mtasts.Records("example.com", &mtasts.Policy{Mode: "strict", MaxAge: time.Hour}, ips, ""); err == nil {
		t.Error("Records of a policy with mode strict succeeded, want an error")
	}
}
