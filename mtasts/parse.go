package mtasts

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ownmx/ownmx/internal/extfield"
)

// Limits of the policy files Parse reads.
const (
	// MaxPolicySize is the largest policy file, in bytes: the 64 KiB that
	// RFC 8461 §3.3 suggests senders accept at most.
	MaxPolicySize = 64 << 10
	// MaxPolicyLines is the largest number of lines in a policy file,
	// blank lines included: real policies have a handful, and each mx
	// line costs every Match.
	MaxPolicyLines = 1000
)

// SyntaxError is the error of Parse and ParseRecord for input that is not
// a policy or a record.
type SyntaxError struct {
	// What is "policy" or "_mta-sts record".
	What string
	// Line is the number, from 1, of the line of the policy that is
	// wrong, or 0 when the fault is not on one line (a missing field).
	Line int
	// Msg says what is wrong.
	Msg string
}

// Error returns the message, with the line when there is one.
func (e *SyntaxError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("mtasts: %s line %d: %s", e.What, e.Line, e.Msg)
	}
	return fmt.Sprintf("mtasts: %s: %s", e.What, e.Msg)
}

// policyError returns a *SyntaxError for line of a policy file.
func policyError(line int, format string, args ...any) *SyntaxError {
	return &SyntaxError{What: "policy", Line: line, Msg: fmt.Sprintf(format, args...)}
}

// Parse reads a policy file (RFC 8461 §3.2): lines "key: value" ending in
// CRLF or LF, with a "version: STSv1", a "mode" of enforce, testing or
// none, a "max_age" of at most 31557600 seconds, and one "mx" line for each
// allowed MX host pattern, at least one unless the mode is none. Keys are
// case-sensitive; version, mode and max_age appear once each. Lines with
// other keys are ignored (RFC 8461 §3.2), but must be key-value pairs of
// the RFC's syntax like the rest.
//
// Parse is lenient where the RFC's grammar is stricter without making any
// difference: blank lines and white space at either end of a line are
// skipped, and an mx pattern may end in a dot. It refuses files over
// MaxPolicySize bytes or MaxPolicyLines lines, bytes that are not UTF-8,
// and control characters other than tab (a CR only before LF).
//
// An error is a *SyntaxError that names the line at fault and what is
// wrong with it, or the error of r.
func Parse(r io.Reader) (*Policy, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxPolicySize+1))
	if err != nil {
		return nil, fmt.Errorf("mtasts: reading policy: %w", err)
	}
	if len(data) > MaxPolicySize {
		return nil, policyError(0, "larger than %d bytes (RFC 8461 §3.3)", MaxPolicySize)
	}
	// A final line break ends the last line rather than starting another.
	lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	if len(lines) > MaxPolicyLines {
		return nil, policyError(0, "more than %d lines", MaxPolicyLines)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, policyError(0, "empty")
	}
	var p Policy
	seen := map[string]int{} // the lines of version, mode and max_age
	for i, raw := range lines {
		n := i + 1
		line, err := policyLine(raw)
		if err != "" {
			return nil, policyError(n, "%s", err)
		}
		if line == "" {
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, policyError(n, "%q is not a key: value line", line)
		}
		if !extfield.ValidName(key) {
			return nil, policyError(n, "key %q is not 1 to 32 letters, digits, '_', '-' or '.', starting with a letter or digit", key)
		}
		value = strings.TrimLeft(value, " \t")
		if value == "" {
			return nil, policyError(n, "%s has no value", key)
		}
		switch key {
		case "version", "mode", "max_age":
			if first, dup := seen[key]; dup {
				return nil, policyError(n, "second %s line (the first is line %d); RFC 8461 §3.2 allows one", key, first)
			}
			seen[key] = n
		}
		switch key {
		case "version":
			if value != "STSv1" {
				return nil, policyError(n, "version %q is not STSv1", value)
			}
		case "mode":
			switch m := Mode(value); m {
			case Enforce, Testing, None:
				p.Mode = m
			default:
				return nil, policyError(n, "mode %q is not enforce, testing or none", value)
			}
		case "max_age":
			age, err := parseMaxAge(value)
			if err != "" {
				return nil, policyError(n, "%s", err)
			}
			p.MaxAge = age
		case "mx":
			pattern, ok := mxPattern(value)
			if !ok {
				return nil, policyError(n, "mx %q is not a host name or a wildcard \"*.\" and a host name, in A-labels (RFC 8461 §3.2)", value)
			}
			p.MX = append(p.MX, pattern)
		}
	}
	switch {
	case seen["version"] == 0:
		return nil, policyError(0, "no version line (version: STSv1)")
	case seen["mode"] == 0:
		return nil, policyError(0, "no mode line (mode: enforce, testing or none)")
	case seen["max_age"] == 0:
		return nil, policyError(0, "no max_age line")
	case len(p.MX) == 0 && p.Mode != None:
		return nil, policyError(0, "no mx line; mode %s needs at least one (RFC 8461 §3.2)", p.Mode)
	}
	return &p, nil
}

// policyLine returns raw, a line of a policy file without its LF, with its
// CR and the white space at either end removed, or what is wrong with it.
func policyLine(raw []byte) (string, string) {
	raw = bytes.TrimSuffix(raw, []byte("\r"))
	if !utf8.Valid(raw) {
		return "", "not UTF-8"
	}
	for _, c := range raw {
		if c < 0x20 && c != '\t' || c == 0x7f {
			if c == '\r' {
				return "", "CR not followed by LF"
			}
			return "", fmt.Sprintf("control character 0x%02x", c)
		}
	}
	return strings.Trim(string(raw), " \t"), ""
}

// parseMaxAge returns the duration of a max_age value: 1 to 10 digits
// (RFC 8461 §3.2) for at most MaxMaxAge seconds, or what is wrong with it.
func parseMaxAge(value string) (time.Duration, string) {
	if len(value) > 10 || strings.Trim(value, "0123456789") != "" {
		return 0, fmt.Sprintf("max_age %q is not 1 to 10 digits", value)
	}
	secs, err := strconv.ParseInt(value, 10, 64)
	if err != nil || secs > int64(MaxMaxAge/time.Second) {
		return 0, fmt.Sprintf("max_age %s is over %d seconds (RFC 8461 §3.2)", value, int64(MaxMaxAge/time.Second))
	}
	return time.Duration(secs) * time.Second, ""
}

// mxPattern returns value, an mx pattern, as Policy.MX holds it: a host
// name, or "*." and a host name, in lower case without a final dot.
func mxPattern(value string) (string, bool) {
	rest, wildcard := strings.CutPrefix(value, "*.")
	name, ok := hostName(rest)
	if !ok {
		return "", false
	}
	if wildcard {
		return "*." + name, true
	}
	return name, true
}
