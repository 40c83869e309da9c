package auth

import (
	"encoding/json"
	"errors"
	"net/netip"
)

// resultsJSON is the JSON form of Results: snake_case names, reasons as
// text. It is the "auth" object of a queued message and of a webhook's
// payload, so its names are a published schema: add fields, never rename.
type resultsJSON struct {
	SPF     spfJSON    `json:"spf"`
	DKIM    []dkimJSON `json:"dkim"`
	DMARC   dmarcJSON  `json:"dmarc"`
	Verdict Verdict    `json:"verdict"`
	Trusted bool       `json:"trusted"`
}

type spfJSON struct {
	Result   Result `json:"result"`
	Domain   string `json:"domain"`
	ClientIP string `json:"client_ip"`
	Helo     string `json:"helo"`
	MailFrom string `json:"mail_from"`
	Reason   string `json:"reason,omitempty"`
}

type dkimJSON struct {
	Result     Result `json:"result"`
	Domain     string `json:"domain"`
	Identifier string `json:"identifier"`
	Reason     string `json:"reason,omitempty"`
}

type dmarcJSON struct {
	Result      Result  `json:"result"`
	Domain      string  `json:"domain"`
	Policy      string  `json:"policy"`
	Sampled     bool    `json:"sampled"`
	SPFAligned  bool    `json:"spf_aligned"`
	DKIMAligned bool    `json:"dkim_aligned"`
	Verdict     Verdict `json:"verdict"`
	Reason      string  `json:"reason,omitempty"`
}

// MarshalJSON writes r as JSON, the "auth" object of a webhook's payload:
//
//	{"spf": {"result": "pass", "domain": "sender.example", "client_ip": "192.0.2.1",
//	         "helo": "mx.sender.example", "mail_from": "a@sender.example"},
//	 "dkim": [{"result": "pass", "domain": "sender.example", "identifier": "@sender.example"}],
//	 "dmarc": {"result": "pass", "domain": "sender.example", "policy": "reject", "sampled": true,
//	           "spf_aligned": true, "dkim_aligned": true, "verdict": "deliver"},
//	 "verdict": "deliver", "trusted": false}
//
// Each method's Err, when set, is its "reason": the short text that
// Authentication-Results carries as reason=. "dkim" is an
// empty list for an unsigned message.
func (r Results) MarshalJSON() ([]byte, error) {
	out := resultsJSON{
		SPF: spfJSON{
			Result: r.SPF.Result, Domain: r.SPF.Domain, Helo: r.SPF.Helo,
			MailFrom: r.SPF.MailFrom, Reason: reason(r.SPF.Err),
		},
		DKIM: make([]dkimJSON, 0, len(r.DKIM)),
		DMARC: dmarcJSON{
			Result: r.DMARC.Result, Domain: r.DMARC.Domain, Policy: r.DMARC.Policy,
			Sampled: r.DMARC.Sampled, SPFAligned: r.DMARC.SPFAligned, DKIMAligned: r.DMARC.DKIMAligned,
			Verdict: r.DMARC.Verdict, Reason: reason(r.DMARC.Err),
		},
		Verdict: r.Verdict(),
		Trusted: r.Trusted,
	}
	if r.SPF.IP.IsValid() {
		out.SPF.ClientIP = r.SPF.IP.String()
	}
	for _, d := range r.DKIM {
		out.DKIM = append(out.DKIM, dkimJSON{Result: d.Result, Domain: d.Domain, Identifier: d.Identifier, Reason: reason(d.Err)})
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON wrote. A reason comes back as an
// error whose text it is; the verdict comes back through DMARC.Verdict.
func (r *Results) UnmarshalJSON(data []byte) error {
	var in resultsJSON
	if err := json.Unmarshal(data, &in); err != nil {
		return err
	}
	*r = Results{
		SPF: SPFResult{
			Result: in.SPF.Result, Domain: in.SPF.Domain, Helo: in.SPF.Helo,
			MailFrom: in.SPF.MailFrom, Err: errorOf(in.SPF.Reason),
		},
		DMARC: DMARCResult{
			Result: in.DMARC.Result, Domain: in.DMARC.Domain, Policy: in.DMARC.Policy,
			Sampled: in.DMARC.Sampled, SPFAligned: in.DMARC.SPFAligned, DKIMAligned: in.DMARC.DKIMAligned,
			Verdict: in.DMARC.Verdict, Err: errorOf(in.DMARC.Reason),
		},
		Trusted: in.Trusted,
	}
	if r.DMARC.Verdict == "" {
		r.DMARC.Verdict = in.Verdict
	}
	if in.SPF.ClientIP != "" {
		ip, err := netip.ParseAddr(in.SPF.ClientIP)
		if err != nil {
			return err
		}
		r.SPF.IP = ip
	}
	for _, d := range in.DKIM {
		r.DKIM = append(r.DKIM, DKIMResult{Result: d.Result, Domain: d.Domain, Identifier: d.Identifier, Err: errorOf(d.Reason)})
	}
	return nil
}

func errorOf(reason string) error {
	if reason == "" {
		return nil
	}
	return errors.New(reason)
}
