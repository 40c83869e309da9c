package auth

import (
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

func TestResultsJSON(t *testing.T) {
	res := Results{
		SPF: SPFResult{Result: Pass, IP: netip.MustParseAddr("192.0.2.1"), Helo: "mx.sender.example",
			MailFrom: "a@sender.example", Domain: "sender.example"},
		DKIM: []DKIMResult{
			{Result: Pass, Domain: "sender.example", Identifier: "@sender.example"},
			{Result: Fail, Domain: "other.example", Identifier: "@other.example", Err: errors.New("body hash did not verify")},
		},
		DMARC: DMARCResult{Result: Pass, Domain: "sender.example", Policy: "reject", Sampled: true,
			SPFAligned: true, DKIMAligned: true, Verdict: Deliver},
	}
	data, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"spf":{"result":"pass","domain":"sender.example","client_ip":"192.0.2.1","helo":"mx.sender.example","mail_from":"a@sender.example"},` +
		`"dkim":[{"result":"pass","domain":"sender.example","identifier":"@sender.example"},{"result":"fail","domain":"other.example","identifier":"@other.example","reason":"body hash did not verify"}],` +
		`"dmarc":{"result":"pass","domain":"sender.example","policy":"reject","sampled":true,"spf_aligned":true,"dkim_aligned":true,"verdict":"deliver"},` +
		`"verdict":"deliver","trusted":false}`
	if string(data) != want {
		t.Errorf("JSON:\n got %s\nwant %s", data, want)
	}
	var back Results
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(back)
	if string(again) != want {
		t.Errorf("after a round trip:\n got %s\nwant %s", again, want)
	}
	if back.SPF.IP != res.SPF.IP || back.Verdict() != Deliver || !reflect.DeepEqual(back.DKIM[1].Err.Error(), "body hash did not verify") {
		t.Errorf("round trip lost fields: %+v", back)
	}

	// An unsigned message has an empty list, not null: receivers iterate it.
	data, _ = json.Marshal(Results{Trusted: true, DMARC: DMARCResult{Result: None, Verdict: Deliver}})
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if l, ok := m["dkim"].([]any); !ok || len(l) != 0 || m["trusted"] != true {
		t.Errorf("unsigned trusted message: %s", data)
	}
}
