package tlsrpt

import (
	"fmt"
	"net/mail"
	"net/url"
	"strings"

	"github.com/ownmx/ownmx/internal/extfield"
)

// recordVersion is the field that starts every "_smtp._tls" TXT record
// (RFC 8460 §3).
const recordVersion = "v=TLSRPTv1"

// Record is a domain's TLS-RPT policy: the "_smtp._tls.<domain>" TXT record
// that asks senders for reports (RFC 8460 §3).
type Record struct {
	// RUA are the URIs reports go to, in the record's order: mailto: URIs
	// with an address, and https: URIs.
	RUA []string
}

// RecordError is the error of ParseRecord: txt is not a TLS-RPT record.
type RecordError struct {
	// Record is the text read.
	Record string
	// Msg says what is wrong.
	Msg string
}

// Error says which record is wrong and why.
func (e *RecordError) Error() string {
	return fmt.Sprintf("tlsrpt: record %q: %s (RFC 8460 §3)", e.Record, e.Msg)
}

// IsRecord reports whether txt, one TXT record at "_smtp._tls.<domain>",
// is one a sender considers: one that starts with the field v=TLSRPTv1
// (RFC 8460 §3). Senders discard the others unread; a domain with other
// than exactly one such record has no TLS-RPT policy.
func IsRecord(txt string) bool {
	rest, ok := strings.CutPrefix(txt, recordVersion)
	return ok && (rest == "" || rest[0] == ';' || rest[0] == ' ' || rest[0] == '\t')
}

// ParseRecord reads the text of a "_smtp._tls" TXT record (RFC 8460 §3),
// such as "v=TLSRPTv1; rua=mailto:tlsrpt@example.com", as the RFC's
// grammar has it: "v=TLSRPTv1" first, then fields separated by ";" with
// optional spaces or tabs around it, and an optional final ";". The rua
// field must appear exactly once, with one or more URIs separated by ","
// (spaces allowed around it), each a mailto: URI with one address or an
// https: URI with a host. Other fields are ignored, as RFC 8460 §3 asks,
// but must have the RFC's syntax: a name of up to 32 letters, digits,
// "_", "-" and "." that starts with a letter or digit, "=", and a value of
// printable ASCII other than "=", ";" and space.
//
// An error is a *RecordError that says what is wrong.
func ParseRecord(txt string) (*Record, error) {
	fail := func(format string, args ...any) (*Record, error) {
		return nil, &RecordError{Record: txt, Msg: fmt.Sprintf(format, args...)}
	}
	rest, ok := strings.CutPrefix(txt, recordVersion)
	if !ok {
		return fail("it does not start with %s", recordVersion)
	}
	fields := strings.Split(rest, ";")
	if strings.Trim(fields[0], " \t") != "" {
		return fail("%s is not followed by \";\"", recordVersion)
	}
	fields = fields[1:]
	var rec *Record
	for i, field := range fields {
		field = strings.Trim(field, " \t")
		if field == "" {
			if i == len(fields)-1 {
				if i == 0 {
					return fail("no rua= field")
				}
				break // the optional final ";"
			}
			return fail("empty field")
		}
		name, value, ok := strings.Cut(field, "=")
		if !ok || !extfield.ValidName(name) {
			return fail("field %q is not name=value", field)
		}
		switch name {
		case "v":
			return fail("second v= field")
		case "rua":
			if rec != nil {
				return fail("second rua= field")
			}
			uris, err := parseRUA(value)
			if err != nil {
				return fail("%v", err)
			}
			rec = &Record{RUA: uris}
		default:
			if !extfield.ValidValue(value) {
				return fail("field %q has a value with a space, \"=\", \";\" or a byte that is not printable ASCII", field)
			}
		}
	}
	if rec == nil {
		return fail("no rua= field")
	}
	return rec, nil
}

// parseRUA reads the value of a rua field: URIs separated by commas.
func parseRUA(value string) ([]string, error) {
	var uris []string
	for _, u := range strings.Split(value, ",") {
		u = strings.Trim(u, " \t")
		if err := checkRUA(u); err != nil {
			return nil, err
		}
		uris = append(uris, u)
	}
	return uris, nil
}

// checkRUA says why u is not a URI reports can go to: RFC 8460 §3 defines
// mailto: (RFC 6068) and https: (RFC 2818) only.
func checkRUA(u string) error {
	if u == "" {
		return fmt.Errorf("rua has an empty URI")
	}
	for i := 0; i < len(u); i++ {
		if c := u[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("rua URI %q has a space or a byte that is not printable ASCII", u)
		}
	}
	parsed, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("rua URI %q: %v", u, err)
	}
	switch strings.ToLower(parsed.Scheme) {
	case "mailto":
		to, err := url.PathUnescape(parsed.Opaque)
		if err != nil || parsed.Opaque == "" {
			return fmt.Errorf("rua URI %q has no address", u)
		}
		addr, err := mail.ParseAddress(to)
		if err != nil || addr.Name != "" || addr.Address != to {
			return fmt.Errorf("rua URI %q: %q is not one mail address", u, to)
		}
	case "https":
		if parsed.Host == "" || parsed.Hostname() == "" {
			return fmt.Errorf("rua URI %q has no host", u)
		}
	default:
		return fmt.Errorf("rua URI %q is not a mailto: or https: URI", u)
	}
	return nil
}
