package mtasts

import (
	"fmt"
	"strings"

	"github.com/ownmx/ownmx/internal/extfield"
)

// recordVersion is the version field that starts every "_mta-sts" TXT
// record (RFC 8461 §3.1).
const recordVersion = "v=STSv1"

// recordError returns a *SyntaxError for the TXT record txt.
func recordError(txt, format string, args ...any) *SyntaxError {
	return &SyntaxError{What: fmt.Sprintf("_mta-sts record %q", txt), Msg: fmt.Sprintf(format, args...)}
}

// isSTSRecord reports whether txt, the text of a TXT record at
// "_mta-sts.<domain>", is one a sender considers (RFC 8461 §3.1): one that
// starts with the field v=STSv1. Others are discarded unread.
func isSTSRecord(txt string) bool {
	rest, ok := strings.CutPrefix(txt, recordVersion)
	return ok && (rest == "" || rest[0] == ';' || rest[0] == ' ' || rest[0] == '\t')
}

// ParseRecord reads the text of a domain's "_mta-sts" TXT record (RFC 8461
// §3.1), such as "v=STSv1; id=20160831085700Z;", and returns its id: 1 to
// 32 letters and digits that change whenever the policy does. The record
// starts with v=STSv1; fields are separated by ";" with optional white
// space around it, and may end with one. Fields other than v and id are
// ignored but must have the RFC's syntax (name=value, the value without
// spaces, "=" or ";"); id must appear once.
//
// An error is a *SyntaxError that says what is wrong.
func ParseRecord(txt string) (id string, err error) {
	rest, ok := strings.CutPrefix(txt, recordVersion)
	if !ok {
		return "", recordError(txt, "does not start with %s", recordVersion)
	}
	fields := strings.Split(rest, ";")
	if strings.Trim(fields[0], " \t") != "" {
		return "", recordError(txt, "%s is not followed by \";\"", recordVersion)
	}
	fields = fields[1:]
	for i, field := range fields {
		field = strings.Trim(field, " \t")
		if field == "" {
			if i == len(fields)-1 {
				break // the optional final ";"
			}
			return "", recordError(txt, "empty field")
		}
		name, value, ok := strings.Cut(field, "=")
		if !ok || !extfield.ValidName(name) || !extfield.ValidValue(value) {
			return "", recordError(txt, "field %q is not name=value", field)
		}
		switch name {
		case "v":
			return "", recordError(txt, "second v= field")
		case "id":
			if id != "" {
				return "", recordError(txt, "second id= field")
			}
			if !validID(value) {
				return "", recordError(txt, "id %q is not 1 to 32 letters and digits", value)
			}
			id = value
		}
	}
	if id == "" {
		return "", recordError(txt, "no id= field")
	}
	return id, nil
}

// validID reports whether id is an sts-id value (RFC 8461 §3.1): 1 to 32
// letters and digits.
func validID(id string) bool {
	if id == "" || len(id) > 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !isLetDig(id[i]) {
			return false
		}
	}
	return true
}
