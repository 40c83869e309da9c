package tlsrpt

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// Limits of the reports Parse reads.
const (
	// DefaultMaxInput is the most bytes Parse reads from its reader when
	// Options.MaxInput is zero: a day's report of a large sender is some
	// kilobytes compressed.
	DefaultMaxInput = 4 << 20
	// DefaultMaxSize is the most bytes of JSON Parse reads, after
	// decompression, when Options.MaxSize is zero. It is what bounds a
	// gzip bomb: a few kilobytes of gzip can inflate to gigabytes.
	DefaultMaxSize = 16 << 20
)

// ErrTooLarge is the error, wrapped, of a report or message over a limit.
var ErrTooLarge = errors.New("tlsrpt: over the size limit")

// Options are the limits of ParseWithOptions and FromMessageWithOptions.
// nil means the defaults.
type Options struct {
	// MaxInput bounds the bytes read: the report as it arrives,
	// compressed or not, or for FromMessage the whole message. Zero means
	// DefaultMaxInput (4 times that for a message, to allow for its
	// base64 and other parts), negative means none.
	MaxInput int64
	// MaxSize bounds the JSON text, after decompression. Zero means
	// DefaultMaxSize, negative means none.
	MaxSize int64
}

func (o *Options) maxInput() int64 {
	if o == nil || o.MaxInput == 0 {
		return DefaultMaxInput
	}
	return o.MaxInput
}

func (o *Options) maxSize() int64 {
	if o == nil || o.MaxSize == 0 {
		return DefaultMaxSize
	}
	return o.MaxSize
}

// gzipMagic starts every gzip stream (RFC 1952 §2.3.1).
var gzipMagic = []byte{0x1f, 0x8b}

// Parse reads an aggregate report (RFC 8460 §4): its JSON, or the JSON
// compressed with gzip as senders attach it (application/tlsrpt+gzip,
// RFC 8460 §5.3), told apart by gzip's magic number, with the default
// limits. See ParseWithOptions.
func Parse(r io.Reader) (*Report, error) { return ParseWithOptions(r, nil) }

// ParseWithOptions is Parse with limits: it reads at most opts.MaxInput
// bytes from r and at most opts.MaxSize bytes of JSON after
// decompression, and refuses a longer report with an error wrapping
// ErrTooLarge, so that a gzip bomb costs no more than the limit.
//
// Parse is strict about what RFC 8460 §4.4 requires: organization-name,
// date-range with start-datetime and end-datetime (RFC 3339 dates, the
// end not before the start), contact-info, report-id and policies; in
// each policy result a policy with policy-type (tlsa, sts or
// no-policy-found) and policy-domain, and a summary with both session
// counts; in each failure detail a result-type and failed-session-count.
// Counts are whole numbers from 0; sending-mta-ip and receiving-ip, when
// present, are IP addresses. A value of the wrong JSON type, null for a
// required field, or anything after the JSON object is an error that
// names the field. Fields the RFC does not define are ignored. Dates are
// returned in UTC, and the policy domain in lower case without a final
// dot.
func ParseWithOptions(r io.Reader, opts *Options) (*Report, error) {
	data, err := readJSON(r, opts)
	if err != nil {
		return nil, err
	}
	if err := checkKeys(data); err != nil {
		return nil, err
	}
	var w wireReport
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("tlsrpt: report is not RFC 8460 JSON: %w", err)
	}
	return w.report()
}

// readJSON reads the report's JSON from r, decompressing it if it starts
// with gzip's magic number.
func readJSON(r io.Reader, opts *Options) ([]byte, error) {
	maxInput, maxSize := opts.maxInput(), opts.maxSize()
	br := bufio.NewReader(&limitReader{r: r, n: maxInput, err: func() error {
		return fmt.Errorf("tlsrpt: report is over %d bytes: %w", maxInput, ErrTooLarge)
	}})
	head, _ := br.Peek(len(gzipMagic))
	var src io.Reader = br
	compressed := bytes.Equal(head, gzipMagic)
	if compressed {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, gzipError(err)
		}
		defer zr.Close()
		src = zr
	}
	data, err := io.ReadAll(&limitReader{r: src, n: maxSize, err: func() error {
		if compressed {
			return fmt.Errorf("tlsrpt: report decompresses to over %d bytes, refused as a possible gzip bomb: %w", maxSize, ErrTooLarge)
		}
		return fmt.Errorf("tlsrpt: report is over %d bytes of JSON: %w", maxSize, ErrTooLarge)
	}})
	if err != nil {
		if compressed {
			return nil, gzipError(err)
		}
		return nil, err
	}
	return data, nil
}

// gzipError explains an error of reading a gzip stream.
func gzipError(err error) error {
	switch {
	case errors.Is(err, ErrTooLarge):
		return err
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return fmt.Errorf("tlsrpt: gzip-compressed report is truncated: %w", err)
	}
	return fmt.Errorf("tlsrpt: gzip-compressed report is corrupt: %w", err)
}

// limitReader reads at most n bytes from r; reading more fails with err().
// Unlike io.LimitReader, hitting the limit is an error, not an end.
type limitReader struct {
	r   io.Reader
	n   int64 // bytes left; negative means no limit
	err func() error
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return l.r.Read(p)
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	if int64(n) > l.n {
		l.n = 0
		return 0, l.err()
	}
	l.n -= int64(n)
	return n, err
}

// The wire types mirror the RFC's JSON with pointers, so that a missing
// field is told from a zero value.
type wireReport struct {
	OrganizationName *string `json:"organization-name"`
	DateRange        *struct {
		Start *string `json:"start-datetime"`
		End   *string `json:"end-datetime"`
	} `json:"date-range"`
	ContactInfo *string       `json:"contact-info"`
	ReportID    *string       `json:"report-id"`
	Policies    *[]wirePolicy `json:"policies"`
}

type wirePolicy struct {
	Policy *struct {
		Type   *string      `json:"policy-type"`
		String []string     `json:"policy-string"`
		Domain *string      `json:"policy-domain"`
		MXHost stringOrList `json:"mx-host"`
	} `json:"policy"`
	Summary *struct {
		Successful *int64 `json:"total-successful-session-count"`
		Failed     *int64 `json:"total-failure-session-count"`
	} `json:"summary"`
	FailureDetails []wireFailure `json:"failure-details"`
}

type wireFailure struct {
	ResultType            *string `json:"result-type"`
	SendingMTAIP          *string `json:"sending-mta-ip"`
	ReceivingMXHostname   *string `json:"receiving-mx-hostname"`
	ReceivingMXHelo       *string `json:"receiving-mx-helo"`
	ReceivingIP           *string `json:"receiving-ip"`
	FailedSessionCount    *int64  `json:"failed-session-count"`
	AdditionalInformation *string `json:"additional-information"`
	FailureReasonCode     *string `json:"failure-reason-code"`
}

// stringOrList is a JSON string or array of strings.
type stringOrList []string

func (s *stringOrList) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = stringOrList{one}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("mx-host is not a string or an array of strings: %w", err)
	}
	*s = list
	return nil
}

// fieldError is the error for a missing or invalid field at path.
func fieldError(path, format string, args ...any) error {
	return fmt.Errorf("tlsrpt: report: %s: %s (RFC 8460 §4.4)", path, fmt.Sprintf(format, args...))
}

// required returns *s, or an error if s is nil or empty.
func required(path string, s *string) (string, error) {
	if s == nil {
		return "", fieldError(path, "missing")
	}
	if strings.TrimSpace(*s) == "" {
		return "", fieldError(path, "empty")
	}
	return *s, nil
}

// count returns *n, or an error if it is nil or negative.
func count(path string, n *int64) (int64, error) {
	if n == nil {
		return 0, fieldError(path, "missing")
	}
	if *n < 0 {
		return 0, fieldError(path, "%d is negative", *n)
	}
	return *n, nil
}

// optional returns *s, or "" for nil.
func optional(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// dateTime reads an RFC 3339 date-time at path.
func dateTime(path string, s *string) (time.Time, error) {
	v, err := required(path, s)
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil || !rfc3339.MatchString(v) {
		return time.Time{}, fieldError(path, "%q is not an RFC 3339 date-time", v)
	}
	return t.UTC(), nil
}

// rfc3339 is the form of an RFC 3339 §5.6 date-time, which time.Parse
// does not hold to: it takes a one-digit hour.
var rfc3339 = regexp.MustCompile(`^\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)$`)

// ipAddress checks an optional IP address at path.
func ipAddress(path string, s *string) (string, error) {
	if s == nil {
		return "", nil
	}
	if _, err := netip.ParseAddr(*s); err != nil {
		return "", fieldError(path, "%q is not an IP address", *s)
	}
	return *s, nil
}

// report checks w and returns the Report it holds.
func (w *wireReport) report() (*Report, error) {
	var r Report
	var err error
	if r.OrganizationName, err = required("organization-name", w.OrganizationName); err != nil {
		return nil, err
	}
	if w.DateRange == nil {
		return nil, fieldError("date-range", "missing")
	}
	if r.DateRange.Start, err = dateTime("date-range.start-datetime", w.DateRange.Start); err != nil {
		return nil, err
	}
	if r.DateRange.End, err = dateTime("date-range.end-datetime", w.DateRange.End); err != nil {
		return nil, err
	}
	if r.DateRange.End.Before(r.DateRange.Start) {
		return nil, fieldError("date-range", "end-datetime %s is before start-datetime %s",
			r.DateRange.End.Format(time.RFC3339), r.DateRange.Start.Format(time.RFC3339))
	}
	if r.ContactInfo, err = required("contact-info", w.ContactInfo); err != nil {
		return nil, err
	}
	if r.ReportID, err = required("report-id", w.ReportID); err != nil {
		return nil, err
	}
	if w.Policies == nil {
		return nil, fieldError("policies", "missing")
	}
	// An empty list stays one, so that the report marshals back to JSON
	// that Parse accepts.
	r.Policies = make([]PolicyResult, 0, len(*w.Policies))
	for i, wp := range *w.Policies {
		p, err := wp.result(fmt.Sprintf("policies[%d]", i))
		if err != nil {
			return nil, err
		}
		r.Policies = append(r.Policies, p)
	}
	return &r, nil
}

// result checks one element of policies, at path.
func (wp *wirePolicy) result(path string) (PolicyResult, error) {
	var pr PolicyResult
	var err error
	if wp.Policy == nil {
		return pr, fieldError(path+".policy", "missing")
	}
	typ, err := required(path+".policy.policy-type", wp.Policy.Type)
	if err != nil {
		return pr, err
	}
	switch PolicyType(typ) {
	case TLSA, STS, NoPolicyFound:
	default:
		return pr, fieldError(path+".policy.policy-type", "%q is not tlsa, sts or no-policy-found", typ)
	}
	pr.Policy.Type = PolicyType(typ)
	domain, err := required(path+".policy.policy-domain", wp.Policy.Domain)
	if err != nil {
		return pr, err
	}
	pr.Policy.Domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	if pr.Policy.Domain == "" || strings.ContainsAny(pr.Policy.Domain, " \t\r\n") {
		return pr, fieldError(path+".policy.policy-domain", "%q is not a domain", domain)
	}
	if len(wp.Policy.String) > 0 {
		pr.Policy.String = wp.Policy.String
	}
	if len(wp.Policy.MXHost) > 0 {
		pr.Policy.MXHost = wp.Policy.MXHost
	}
	if wp.Summary == nil {
		return pr, fieldError(path+".summary", "missing")
	}
	if pr.Summary.Successful, err = count(path+".summary.total-successful-session-count", wp.Summary.Successful); err != nil {
		return pr, err
	}
	if pr.Summary.Failed, err = count(path+".summary.total-failure-session-count", wp.Summary.Failed); err != nil {
		return pr, err
	}
	for i, wf := range wp.FailureDetails {
		fpath := fmt.Sprintf("%s.failure-details[%d]", path, i)
		var fd FailureDetail
		rt, err := required(fpath+".result-type", wf.ResultType)
		if err != nil {
			return pr, err
		}
		fd.ResultType = ResultType(rt)
		if fd.FailedSessionCount, err = count(fpath+".failed-session-count", wf.FailedSessionCount); err != nil {
			return pr, err
		}
		if fd.SendingMTAIP, err = ipAddress(fpath+".sending-mta-ip", wf.SendingMTAIP); err != nil {
			return pr, err
		}
		if fd.ReceivingIP, err = ipAddress(fpath+".receiving-ip", wf.ReceivingIP); err != nil {
			return pr, err
		}
		fd.ReceivingMXHostname = optional(wf.ReceivingMXHostname)
		fd.ReceivingMXHelo = optional(wf.ReceivingMXHelo)
		fd.AdditionalInformation = optional(wf.AdditionalInformation)
		fd.FailureReasonCode = optional(wf.FailureReasonCode)
		pr.FailureDetails = append(pr.FailureDetails, fd)
	}
	return pr, nil
}

// knownKeys are the names of the fields RFC 8460 §4.4 defines.
var knownKeys = []string{
	"organization-name", "date-range", "start-datetime", "end-datetime", "contact-info", "report-id",
	"policies", "policy", "policy-type", "policy-string", "policy-domain", "mx-host", "summary",
	"total-successful-session-count", "total-failure-session-count", "failure-details", "result-type",
	"sending-mta-ip", "receiving-mx-hostname", "receiving-mx-helo", "receiving-ip",
	"failed-session-count", "additional-information", "failure-reason-code",
}

// checkKeys refuses an object key that differs from one of RFC 8460 only
// in case, such as "Report-ID": JSON names are case-sensitive, but
// encoding/json matches them to struct fields without regard to case.
// Syntax errors are left to json.Unmarshal.
func checkKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct{ object, wantKey bool }
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		if key, ok := tok.(string); ok && top != nil && top.object && top.wantKey {
			top.wantKey = false
			for _, k := range knownKeys {
				if key != k && strings.EqualFold(key, k) {
					return fmt.Errorf("tlsrpt: report: field %q is not %q: names are case-sensitive (RFC 8460 §4.4)", key, k)
				}
			}
			continue
		}
		if top != nil && top.object {
			top.wantKey = true // a value was read: a key comes next
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{object: true, wantKey: true})
		case json.Delim('['):
			stack = append(stack, frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
	}
}
