package tlsrpt_test

import (
	"bytes"
	"math"
	"reflect"
	"testing"

	"github.com/ownmx/ownmx/tlsrpt"
)

// TestSummary adds up the RFC's sample with a second report, from
// another sender, on the same policy and on another.
func TestSummary(t *testing.T) {
	first, err := tlsrpt.Parse(bytes.NewReader(rfcSample(t)))
	if err != nil {
		t.Fatal(err)
	}
	second, err := tlsrpt.Parse(bytes.NewReader([]byte(`{
		"organization-name": "Google Inc.",
		"date-range": {"start-datetime": "2016-04-02T00:00:00Z", "end-datetime": "2016-04-02T23:59:59Z"},
		"contact-info": "smtp-tls-reporting@google.com",
		"report-id": "2016-04-02T00:00:00Z_company-y.example",
		"policies": [{
			"policy": {"policy-type": "sts", "policy-domain": "Company-Y.example.", "mx-host": ["*.mail.company-y.example"]},
			"summary": {"total-successful-session-count": 10, "total-failure-session-count": 2},
			"failure-details": [{"result-type": "certificate-expired", "sending-mta-ip": "::ffff:192.0.2.7",
				"receiving-mx-hostname": "MX1.mail.company-y.example.", "failed-session-count": 2}]
		}, {
			"policy": {"policy-type": "no-policy-found", "policy-domain": "other.example"},
			"summary": {"total-successful-session-count": 1, "total-failure-session-count": 0}
		}]
	}`)))
	if err != nil {
		t.Fatal(err)
	}
	s := tlsrpt.Summarize(first, second)
	if s.Reports != 2 || s.Start != first.DateRange.Start || s.End != second.DateRange.End {
		t.Errorf("reports %d from %v to %v", s.Reports, s.Start, s.End)
	}
	if len(s.Policies) != 2 {
		t.Fatalf("%d policies, want 2: %+v", len(s.Policies), s.Policies)
	}
	p := s.Policies[0]
	want := tlsrpt.PolicySummary{
		Domain: "company-y.example", Type: tlsrpt.STS,
		Successful: 5336, Failed: 305,
		Failures: map[tlsrpt.ResultType]int64{
			tlsrpt.CertificateExpired: 102, tlsrpt.StartTLSNotSupported: 200, tlsrpt.ValidationFailure: 3,
		},
		SendingIPs:    []string{"192.0.2.7", "198.51.100.62", "2001:db8:abcd:12::1", "2001:db8:abcd:13::1"},
		ReceivingMX:   []string{"mx-backup.mail.company-y.example", "mx1.mail.company-y.example", "mx2.mail.company-y.example"},
		Organizations: []string{"Company-X", "Google Inc."},
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("policy summary %+v\nwant %+v", p, want)
	}

	wantText := "2 reports from 2016-04-01T00:00:00Z to 2016-04-02T23:59:59Z\n" +
		"company-y.example sts: 5336 sessions ok, 305 failed (starttls-not-supported 200, certificate-expired 102, validation-failure 3)" +
		" from 192.0.2.7, 198.51.100.62, 2001:db8:abcd:12::1, 2001:db8:abcd:13::1" +
		" to mx-backup.mail.company-y.example, mx1.mail.company-y.example, mx2.mail.company-y.example; reported by Company-X, Google Inc.\n" +
		"other.example no-policy-found: 1 session ok, 0 failed; reported by Google Inc.\n"
	if got := s.String(); got != wantText {
		t.Errorf("String:\n%s\nwant:\n%s", got, wantText)
	}
	if got := tlsrpt.Summarize().String(); got != "no reports\n" {
		t.Errorf("empty summary: %q", got)
	}
}

// TestSummaryHostileText keeps one line per policy, whatever the
// strings of a report hold, and saturates counts rather than overflow.
func TestSummaryHostileText(t *testing.T) {
	r := &tlsrpt.Report{
		OrganizationName: "Evil\nCorp\x1b[31m",
		Policies: []tlsrpt.PolicyResult{{
			Policy:  tlsrpt.Policy{Type: tlsrpt.STS, Domain: "a.example"},
			Summary: tlsrpt.SessionCounts{Successful: math.MaxInt64, Failed: 1},
			FailureDetails: []tlsrpt.FailureDetail{{ResultType: "x\r\ny", FailedSessionCount: math.MaxInt64,
				ReceivingMXHostname: "mx\n.example"}},
		}},
	}
	s := tlsrpt.Summarize(r, r)
	p := s.Policies[0]
	if p.Successful != math.MaxInt64 || p.Failed != 2 || p.Failures["x\r\ny"] != math.MaxInt64 {
		t.Errorf("counts %d %d %v, want saturated sums", p.Successful, p.Failed, p.Failures)
	}
	line := p.String()
	if bytes.ContainsAny([]byte(line), "\r\n\x1b") {
		t.Errorf("line has control characters: %q", line)
	}
}
