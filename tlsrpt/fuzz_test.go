package tlsrpt_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/ownmx/ownmx/tlsrpt"
)

// FuzzParse checks that Parse never panics, that what it accepts has
// every field RFC 8460 §4.4 requires, agrees with a plain decode of the
// same JSON, marshals back to a report that parses to the same value, and
// sums in Summarize; and that the gzip-compressed input parses the same.
func FuzzParse(f *testing.F) {
	sample := rfcSample(f)
	f.Add(sample)
	f.Add(gzipped(f, sample))
	f.Add(sample[:len(sample)/2])
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"organization-name":"a","date-range":{"start-datetime":"2020-01-01T00:00:00+02:00","end-datetime":"2020-01-01T00:00:00Z"},"contact-info":"c","report-id":"r","policies":[]}`))
	f.Add([]byte(`{"organization-name":"a","date-range":{"start-datetime":"2020-01-01T00:00:00Z","end-datetime":"2020-01-02T00:00:00Z"},"contact-info":"c","report-id":"r","policies":[{"policy":{"policy-type":"tlsa","policy-domain":"x.","mx-host":null},"summary":{"total-successful-session-count":0,"total-failure-session-count":9223372036854775807},"failure-details":[{"result-type":"z","failed-session-count":9223372036854775807}]}]}`))
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := &tlsrpt.Options{MaxSize: 1 << 20}
		r, err := tlsrpt.ParseWithOptions(bytes.NewReader(data), opts)
		if len(data) < 1<<16 && !(len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
			// Compressed, the same bytes give the same answer.
			rz, errz := tlsrpt.ParseWithOptions(bytes.NewReader(gzipped(t, data)), opts)
			if (err == nil) != (errz == nil) || !reflect.DeepEqual(r, rz) {
				t.Fatalf("plain: %+v, %v\ngzip: %+v, %v", r, err, rz, errz)
			}
		}
		if err != nil {
			if r != nil {
				t.Fatalf("report %+v with error %v", r, err)
			}
			return
		}
		checkRequired(t, r)
		checkAgainstPlainDecode(t, data, r)

		b, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		again, err := tlsrpt.Parse(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("parsing the marshalled report: %v\n%s", err, b)
		}
		if !reflect.DeepEqual(r, again) {
			t.Fatalf("round trip: %+v\nwant %+v", again, r)
		}

		s := tlsrpt.Summarize(r)
		var ok, failed int64
		for _, p := range s.Policies {
			ok = sat(ok, p.Successful)
			failed = sat(failed, p.Failed)
		}
		var wantOK, wantFailed int64
		for _, p := range r.Policies {
			wantOK = sat(wantOK, p.Summary.Successful)
			wantFailed = sat(wantFailed, p.Summary.Failed)
		}
		if ok != wantOK || failed != wantFailed {
			t.Fatalf("summary totals %d/%d, report's %d/%d", ok, failed, wantOK, wantFailed)
		}
		if bytes.ContainsAny([]byte(s.String()), "\r\x1b") || bytes.Count([]byte(s.String()), []byte("\n")) != 1+len(s.Policies) {
			t.Fatalf("summary is not one line per policy:\n%q", s.String())
		}
	})
}

func sat(a, b int64) int64 {
	if a > 1<<63-1-b {
		return 1<<63 - 1
	}
	return a + b
}

// checkRequired fails the test unless r has what RFC 8460 §4.4 requires.
func checkRequired(t *testing.T, r *tlsrpt.Report) {
	t.Helper()
	if r.OrganizationName == "" || r.ContactInfo == "" || r.ReportID == "" || r.Policies == nil ||
		r.DateRange.Start.IsZero() || r.DateRange.End.Before(r.DateRange.Start) {
		t.Fatalf("accepted report lacks a required field: %+v", r)
	}
	for _, p := range r.Policies {
		switch p.Policy.Type {
		case tlsrpt.TLSA, tlsrpt.STS, tlsrpt.NoPolicyFound:
		default:
			t.Fatalf("accepted policy type %q", p.Policy.Type)
		}
		if p.Policy.Domain == "" || p.Summary.Successful < 0 || p.Summary.Failed < 0 {
			t.Fatalf("accepted policy %+v", p)
		}
		for _, fd := range p.FailureDetails {
			if fd.ResultType == "" || fd.FailedSessionCount < 0 {
				t.Fatalf("accepted failure detail %+v", fd)
			}
		}
	}
}

// checkAgainstPlainDecode compares r with a decode of data into generic
// JSON values: the reference that the counts and names came from.
func checkAgainstPlainDecode(t *testing.T, data []byte, r *tlsrpt.Report) {
	t.Helper()
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		return
	}
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("Parse accepted what encoding/json refuses: %v", err)
	}
	if m["organization-name"] != r.OrganizationName || m["report-id"] != r.ReportID || m["contact-info"] != r.ContactInfo {
		t.Fatalf("metadata differs from the plain decode: %v", m)
	}
	policies, ok := m["policies"].([]any)
	if !ok || len(policies) != len(r.Policies) {
		t.Fatalf("policies differ from the plain decode: %v", m["policies"])
	}
	for i, p := range policies {
		summary := p.(map[string]any)["summary"].(map[string]any)
		if n, _ := summary["total-successful-session-count"].(json.Number).Int64(); n != r.Policies[i].Summary.Successful {
			t.Fatalf("policy %d: successful %d, plain decode %v", i, r.Policies[i].Summary.Successful, summary)
		}
		if n, _ := summary["total-failure-session-count"].(json.Number).Int64(); n != r.Policies[i].Summary.Failed {
			t.Fatalf("policy %d: failed %d, plain decode %v", i, r.Policies[i].Summary.Failed, summary)
		}
	}
}
