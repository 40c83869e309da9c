package mtasts

import (
	"net/netip"
	"strings"

	"github.com/ownmx/ownmx/dnsx"
)

// policyHostNote is the note on the address records of mta-sts.<domain>.
const policyHostNote = "serves the policy over HTTPS with a certificate valid for this name (RFC 8461 §3.3); DNS only, not proxied, if it is also the MX host"

// Records returns the records that publish p for domain (RFC 8461 §3):
// the "_mta-sts.<domain>" TXT record with the policy's RecordID, the A and
// AAAA records of mta-sts.<domain> at ips, the HTTPS server that serves
// Handler(p), and, when rua is not empty, the "_smtp._tls.<domain>" TXT
// record of TLS-RPT (RFC 8460 §3) asking for reports at rua. rua is a
// mailto: or https: URI; an address without a scheme gets "mailto:". It
// fails when p does not marshal.
func Records(domain string, p *Policy, ips []netip.Addr, rua string) ([]dnsx.Record, error) {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	txt, err := RecordText(p)
	if err != nil {
		return nil, err
	}
	recs := []dnsx.Record{{Type: "TXT", Name: "_mta-sts." + domain, Content: txt}}
	for _, ip := range ips {
		t := "A"
		if !ip.Unmap().Is4() {
			t = "AAAA"
		}
		recs = append(recs, dnsx.Record{Type: t, Name: "mta-sts." + domain, Content: ip.Unmap().String(), Note: policyHostNote})
	}
	if rua != "" {
		if !strings.HasPrefix(rua, "mailto:") && !strings.HasPrefix(rua, "https:") {
			rua = "mailto:" + rua
		}
		recs = append(recs, dnsx.Record{Type: "TXT", Name: "_smtp._tls." + domain, Content: "v=TLSRPTv1; rua=" + rua})
	}
	return recs, nil
}
