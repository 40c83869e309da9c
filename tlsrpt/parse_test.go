package tlsrpt_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ownmx/ownmx/tlsrpt"
)

// rfcSample is the example report of RFC 8460 Appendix B, as printed
// there (RFC text).
func rfcSample(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/rfc8460-appendix-b.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// wantRFCSample fails the test unless r is the report of RFC 8460
// Appendix B, field by field.
func wantRFCSample(t *testing.T, r *tlsrpt.Report) {
	t.Helper()
	want := &tlsrpt.Report{
		OrganizationName: "Company-X",
		DateRange: tlsrpt.DateRange{
			Start: time.Date(2016, 4, 1, 0, 0, 0, 0, time.UTC),
			End:   time.Date(2016, 4, 1, 23, 59, 59, 0, time.UTC),
		},
		ContactInfo: "sts-reporting@company-x.example",
		ReportID:    "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
		Policies: []tlsrpt.PolicyResult{{
			Policy: tlsrpt.Policy{
				Type:   tlsrpt.STS,
				String: []string{"version: STSv1", "mode: testing", "mx: *.mail.company-y.example", "max_age: 86400"},
				Domain: "company-y.example",
				MXHost: []string{"*.mail.company-y.example"},
			},
			Summary: tlsrpt.SessionCounts{Successful: 5326, Failed: 303},
			FailureDetails: []tlsrpt.FailureDetail{{
				ResultType:          tlsrpt.CertificateExpired,
				SendingMTAIP:        "2001:db8:abcd:0012::1",
				ReceivingMXHostname: "mx1.mail.company-y.example",
				FailedSessionCount:  100,
			}, {
				ResultType:            tlsrpt.StartTLSNotSupported,
				SendingMTAIP:          "2001:db8:abcd:0013::1",
				ReceivingMXHostname:   "mx2.mail.company-y.example",
				ReceivingIP:           "203.0.113.56",
				FailedSessionCount:    200,
				AdditionalInformation: "https://reports.company-x.example/report_info?id=5065427c-23d3#StarttlsNotSupported",
			}, {
				ResultType:          tlsrpt.ValidationFailure,
				SendingMTAIP:        "198.51.100.62",
				ReceivingIP:         "203.0.113.58",
				ReceivingMXHostname: "mx-backup.mail.company-y.example",
				FailedSessionCount:  3,
				FailureReasonCode:   "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED",
			}},
		}},
	}
	if r.OrganizationName != want.OrganizationName || r.ContactInfo != want.ContactInfo || r.ReportID != want.ReportID {
		t.Errorf("metadata %q %q %q, want %q %q %q", r.OrganizationName, r.ContactInfo, r.ReportID,
			want.OrganizationName, want.ContactInfo, want.ReportID)
	}
	if !r.DateRange.Start.Equal(want.DateRange.Start) || !r.DateRange.End.Equal(want.DateRange.End) {
		t.Errorf("date range %v, want %v", r.DateRange, want.DateRange)
	}
	if len(r.Policies) != 1 {
		t.Fatalf("%d policies, want 1", len(r.Policies))
	}
	got, w := r.Policies[0], want.Policies[0]
	if !reflect.DeepEqual(got.Policy, w.Policy) {
		t.Errorf("policy %+v\nwant %+v", got.Policy, w.Policy)
	}
	if got.Summary != w.Summary {
		t.Errorf("summary %+v, want %+v", got.Summary, w.Summary)
	}
	if len(got.FailureDetails) != len(w.FailureDetails) {
		t.Fatalf("%d failure details, want %d", len(got.FailureDetails), len(w.FailureDetails))
	}
	for i := range w.FailureDetails {
		if got.FailureDetails[i] != w.FailureDetails[i] {
			t.Errorf("failure detail %d: %+v\nwant %+v", i, got.FailureDetails[i], w.FailureDetails[i])
		}
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("report %+v\nwant %+v", r, want)
	}
}

// TestParseRFCSample parses the example of RFC 8460 Appendix B, as JSON
// and compressed with gzip as senders attach it (RFC 8460 §5.3).
func TestParseRFCSample(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"json", rfcSample(t)},
		{"gzip", gzipped(t, rfcSample(t))},
		{"gzip of two members", append(gzipped(t, rfcSample(t)[:100]), gzipped(t, rfcSample(t)[100:])...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tlsrpt.Parse(bytes.NewReader(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			wantRFCSample(t, r)
		})
	}
}

// TestParseRoundTrip checks that a parsed report marshals to JSON that
// parses back to the same report.
func TestParseRoundTrip(t *testing.T) {
	r, err := tlsrpt.Parse(bytes.NewReader(rfcSample(t)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	again, err := tlsrpt.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if !reflect.DeepEqual(r, again) {
		t.Errorf("round trip: %+v\nwant %+v", again, r)
	}
}

// edit returns the RFC sample with change applied to its generic form.
func edit(t testing.TB, change func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rfcSample(t), &m); err != nil {
		t.Fatal(err)
	}
	change(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// at returns the object at a path of keys and indexes in m.
func at(m map[string]any, path ...any) map[string]any {
	var v any = m
	for _, p := range path {
		switch p := p.(type) {
		case string:
			v = v.(map[string]any)[p]
		case int:
			v = v.([]any)[p]
		}
	}
	return v.(map[string]any)
}

// The fields RFC 8460 §4.4 requires, by the object that holds them.
var requiredFields = []struct {
	path []any
	key  string
}{
	{nil, "organization-name"},
	{nil, "date-range"},
	{[]any{"date-range"}, "start-datetime"},
	{[]any{"date-range"}, "end-datetime"},
	{nil, "contact-info"},
	{nil, "report-id"},
	{nil, "policies"},
	{[]any{"policies", 0}, "policy"},
	{[]any{"policies", 0, "policy"}, "policy-type"},
	{[]any{"policies", 0, "policy"}, "policy-domain"},
	{[]any{"policies", 0}, "summary"},
	{[]any{"policies", 0, "summary"}, "total-successful-session-count"},
	{[]any{"policies", 0, "summary"}, "total-failure-session-count"},
	{[]any{"policies", 0, "failure-details", 1}, "result-type"},
	{[]any{"policies", 0, "failure-details", 2}, "failed-session-count"},
}

// TestParseMissingField removes each required field in turn, and sets it
// to null: each is refused with an error naming the field.
func TestParseMissingField(t *testing.T) {
	for _, f := range requiredFields {
		for _, mode := range []string{"missing", "null"} {
			t.Run(f.key+" "+mode, func(t *testing.T) {
				b := edit(t, func(m map[string]any) {
					o := at(m, f.path...)
					if mode == "null" {
						o[f.key] = nil
					} else {
						delete(o, f.key)
					}
				})
				_, err := tlsrpt.Parse(bytes.NewReader(b))
				if err == nil || !strings.Contains(err.Error(), f.key) || !strings.Contains(err.Error(), "missing") {
					t.Errorf("error %v, want one saying %s is missing", err, f.key)
				}
			})
		}
	}
}

// TestParseOptionalFields removes each optional field: the report is
// still read.
func TestParseOptionalFields(t *testing.T) {
	for _, f := range []struct {
		path []any
		key  string
	}{
		{[]any{"policies", 0, "policy"}, "policy-string"},
		{[]any{"policies", 0, "policy"}, "mx-host"},
		{[]any{"policies", 0}, "failure-details"},
		{[]any{"policies", 0, "failure-details", 0}, "sending-mta-ip"},
		{[]any{"policies", 0, "failure-details", 0}, "receiving-mx-hostname"},
		{[]any{"policies", 0, "failure-details", 1}, "receiving-ip"},
		{[]any{"policies", 0, "failure-details", 1}, "additional-information"},
		{[]any{"policies", 0, "failure-details", 2}, "failure-reason-code"},
	} {
		b := edit(t, func(m map[string]any) { delete(at(m, f.path...), f.key) })
		if _, err := tlsrpt.Parse(bytes.NewReader(b)); err != nil {
			t.Errorf("without %s: %v", f.key, err)
		}
	}
}

// TestParseWrongValues gives fields values of the wrong type or out of
// range: each is refused with an error naming the field.
func TestParseWrongValues(t *testing.T) {
	fd := []any{"policies", 0, "failure-details", 0}
	for _, tc := range []struct {
		path  []any
		key   string
		value any
	}{
		{nil, "organization-name", 42},
		{nil, "organization-name", ""},
		{nil, "organization-name", []any{"x"}},
		{nil, "date-range", "2016-04-01"},
		{[]any{"date-range"}, "start-datetime", "2016-04-01"},
		{[]any{"date-range"}, "start-datetime", "yesterday"},
		{[]any{"date-range"}, "start-datetime", 1459468800},
		{[]any{"date-range"}, "start-datetime", "2016-04-01T0:00:00Z"}, // RFC 3339 hours have two digits
		{[]any{"date-range"}, "start-datetime", "2016-04-01 00:00:00Z"},
		{[]any{"date-range"}, "end-datetime", "2016-03-31T00:00:00Z"}, // before the start
		{nil, "contact-info", true},
		{nil, "report-id", map[string]any{}},
		{nil, "policies", map[string]any{}},
		{nil, "policies", "none"},
		{[]any{"policies", 0}, "policy", []any{}},
		{[]any{"policies", 0, "policy"}, "policy-type", "dane"},
		{[]any{"policies", 0, "policy"}, "policy-type", 1},
		{[]any{"policies", 0, "policy"}, "policy-domain", "company y.example"},
		{[]any{"policies", 0, "policy"}, "policy-domain", []any{"company-y.example"}},
		{[]any{"policies", 0, "policy"}, "policy-string", "version: STSv1"},
		{[]any{"policies", 0, "policy"}, "mx-host", 7},
		{[]any{"policies", 0, "policy"}, "mx-host", []any{7}},
		{[]any{"policies", 0, "summary"}, "total-successful-session-count", -1},
		{[]any{"policies", 0, "summary"}, "total-successful-session-count", 1.5},
		{[]any{"policies", 0, "summary"}, "total-successful-session-count", "5326"},
		{[]any{"policies", 0, "summary"}, "total-failure-session-count", 1e30},
		{[]any{"policies", 0}, "failure-details", map[string]any{}},
		{fd, "result-type", ""},
		{fd, "result-type", 3},
		{fd, "failed-session-count", -100},
		{fd, "failed-session-count", "100"},
		{fd, "sending-mta-ip", "mx.example"},
		{fd, "sending-mta-ip", 3232235777},
		{fd, "receiving-ip", "203.0.113.256"},
		{fd, "receiving-mx-hostname", false},
	} {
		b := edit(t, func(m map[string]any) { at(m, tc.path...)[tc.key] = tc.value })
		_, err := tlsrpt.Parse(bytes.NewReader(b))
		if err == nil || !strings.Contains(err.Error(), tc.key) && !strings.Contains(err.Error(), "date-range") {
			t.Errorf("%s = %#v: error %v, want one naming the field", tc.key, tc.value, err)
		}
	}
}

// TestParseKeyCase refuses each field name of RFC 8460 §4.4 with its
// case changed: JSON names are case-sensitive.
func TestParseKeyCase(t *testing.T) {
	for _, f := range requiredFields {
		b := edit(t, func(m map[string]any) {
			o := at(m, f.path...)
			o[strings.ToUpper(f.key)] = o[f.key]
			delete(o, f.key)
		})
		_, err := tlsrpt.Parse(bytes.NewReader(b))
		if err == nil || !strings.Contains(err.Error(), strings.ToUpper(f.key)) {
			t.Errorf("%s: error %v, want one naming the field", strings.ToUpper(f.key), err)
		}
	}
}

// TestParseMXHostList reads mx-host both as RFC 8460 §4.4 has it, a
// string, and as senders send it, an array.
func TestParseMXHostList(t *testing.T) {
	b := edit(t, func(m map[string]any) {
		at(m, "policies", 0, "policy")["mx-host"] = []any{"mx1.company-y.example", "mx2.company-y.example"}
	})
	r, err := tlsrpt.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Policies[0].Policy.MXHost; !reflect.DeepEqual(got, []string{"mx1.company-y.example", "mx2.company-y.example"}) {
		t.Errorf("mx-host %q", got)
	}
}

// TestParseNotJSON refuses input that is not one JSON object.
func TestParseNotJSON(t *testing.T) {
	sample := rfcSample(t)
	for name, data := range map[string][]byte{
		"empty":            nil,
		"array":            []byte(`[` + string(sample) + `]`),
		"null":             []byte(`null`),
		"string":           []byte(`"report"`),
		"trailing garbage": append(append([]byte{}, sample...), []byte(`{}`)...),
		"truncated":        sample[:len(sample)/2],
		"gzip of garbage":  gzipped(t, []byte("not json")),
		"xml":              []byte(`<?xml version="1.0"?><feedback/>`),
	} {
		if r, err := tlsrpt.Parse(bytes.NewReader(data)); err == nil {
			t.Errorf("%s: parsed as %+v, want an error", name, r)
		}
	}
}

// TestParseTruncatedGzip cuts the compressed sample at every length: each
// cut is refused as truncated or corrupt, never read as a report.
func TestParseTruncatedGzip(t *testing.T) {
	z := gzipped(t, rfcSample(t))
	for n := 0; n < len(z); n++ {
		r, err := tlsrpt.Parse(bytes.NewReader(z[:n]))
		if err == nil {
			t.Fatalf("gzip cut at %d of %d bytes: parsed as %+v", n, len(z), r)
		}
		if n >= 2 && !strings.Contains(err.Error(), "gzip-compressed report is") {
			t.Errorf("gzip cut at %d of %d bytes: %v, want it called truncated or corrupt", n, len(z), err)
		}
	}
	// A flipped byte in the body or trailer fails its CRC or its inflate.
	for _, i := range []int{len(z) / 2, len(z) - 8, len(z) - 1} {
		bad := bytes.Clone(z)
		bad[i] ^= 0xff
		if _, err := tlsrpt.Parse(bytes.NewReader(bad)); err == nil {
			t.Errorf("byte %d flipped: parsed", i)
		}
	}
}

// TestParseLimits checks that a gzip bomb and oversized input are refused
// with ErrTooLarge, having read no more than the limits say.
func TestParseLimits(t *testing.T) {
	// 64 MiB of spaces compress to some 64 KiB: far under the input limit,
	// far over the decompressed one.
	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
	chunk := bytes.Repeat([]byte(" "), 1<<20)
	for range 64 {
		zw.Write(chunk)
	}
	zw.Close()

	huge := append([]byte(`{"organization-name": "`), bytes.Repeat([]byte("x"), tlsrpt.DefaultMaxInput)...)
	huge = append(huge, `"}`...)

	for _, tc := range []struct {
		name string
		data []byte
		opts *tlsrpt.Options
		want string
	}{
		{"gzip bomb", bomb.Bytes(), nil, "gzip bomb"},
		{"gzip bomb, smaller limit", gzipped(t, rfcSample(t)), &tlsrpt.Options{MaxSize: 100}, "decompresses to over 100 bytes"},
		{"huge JSON", huge, nil, "over 4194304 bytes"},
		{"input over MaxInput", rfcSample(t), &tlsrpt.Options{MaxInput: 100}, "over 100 bytes"},
		{"JSON over MaxSize", rfcSample(t), &tlsrpt.Options{MaxSize: 100}, "over 100 bytes of JSON"},
		{"gzip over MaxInput", gzipped(t, rfcSample(t)), &tlsrpt.Options{MaxInput: 100}, "over 100 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &countingReader{r: bytes.NewReader(tc.data)}
			_, err := tlsrpt.ParseWithOptions(src, tc.opts)
			if !errors.Is(err, tlsrpt.ErrTooLarge) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrTooLarge saying %q", err, tc.want)
			}
			max := int64(tlsrpt.DefaultMaxInput)
			if tc.opts != nil && tc.opts.MaxInput > 0 {
				max = tc.opts.MaxInput
			}
			if src.n > max+4096 {
				t.Errorf("read %d bytes of input, limit %d", src.n, max)
			}
		})
	}

	// Negative limits mean none: the bomb is read (and is not a report).
	_, err := tlsrpt.ParseWithOptions(bytes.NewReader(bomb.Bytes()), &tlsrpt.Options{MaxSize: -1, MaxInput: -1})
	if err == nil || errors.Is(err, tlsrpt.ErrTooLarge) {
		t.Errorf("no limits: error %v, want a JSON error", err)
	}
	// Exactly at the limit is allowed.
	sample := rfcSample(t)
	if _, err := tlsrpt.ParseWithOptions(bytes.NewReader(sample), &tlsrpt.Options{MaxSize: int64(len(sample)), MaxInput: int64(len(sample))}); err != nil {
		t.Errorf("report at the limits: %v", err)
	}
}

// countingReader counts the bytes read from r.
type countingReader struct {
	r interface{ Read([]byte) (int, error) }
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
