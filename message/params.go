package message

import (
	"fmt"
	"io"
	"mime"
	"path"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
)

// extValue finds the start of each RFC 2231 extended value ("name*=" or
// "name*0*=") to read its charset: submatch 1 is the parameter name, 2
// the charset.
var extValue = regexp.MustCompile(`;\s*([^\s;=*"]+)\*(?:0\*)?\s*=\s*"?([^\s;'"]*)'`)

// parseParams parses a Content-Type or Content-Disposition value
// (RFC 2045 §5.1, RFC 2183 §2) with mime.ParseMediaType, adding what it
// lacks for mail in the wild:
//
//   - RFC 2231 §4 values in any charset go-message's charset package
//     knows (mime.ParseMediaType drops those not in UTF-8 or US-ASCII);
//   - RFC 2047 encoded words in quoted values, which RFC 2047 §5 forbids
//     but mail programs write;
//   - parameters after a malformed one (mime.ParseMediaType gives up on
//     all of them), read one by one.
//
// It returns "" as the value when v has none or an invalid one, and the
// problems met.
func parseParams(v string) (value string, params map[string]string, problems []error) {
	// Have mime.ParseMediaType read extended values as US-ASCII, which it
	// percent-decodes and stitches (RFC 2231 §3) without checking, then
	// convert their bytes from their charset.
	charsets := map[string]string{}
	if strings.Contains(v, "'") {
		var b strings.Builder
		last := 0
		for _, m := range extValue.FindAllStringSubmatchIndex(v, -1) {
			cs := strings.ToLower(v[m[4]:m[5]])
			if cs == "utf-8" || cs == "us-ascii" {
				continue
			}
			charsets[strings.ToLower(v[m[2]:m[3]])] = cs
			b.WriteString(v[last:m[4]])
			b.WriteString("us-ascii")
			last = m[5]
		}
		b.WriteString(v[last:])
		v = b.String()
	}

	value, params, err := mime.ParseMediaType(v)
	if err != nil {
		base, rest, _ := strings.Cut(v, ";")
		value = strings.ToLower(strings.TrimSpace(base))
		if _, _, err := mime.ParseMediaType(value); err != nil {
			value = ""
		}
		params = map[string]string{}
		var bad []string
		for _, item := range strings.Split(rest, ";") {
			if strings.TrimSpace(item) == "" {
				continue
			}
			_, one, err := mime.ParseMediaType("x/x;" + item)
			if err != nil || len(one) == 0 {
				bad = append(bad, strings.TrimSpace(item))
				continue
			}
			for k, v := range one {
				if _, dup := params[k]; !dup {
					params[k] = v
				}
			}
		}
		if len(bad) > 0 {
			err = fmt.Errorf("%v; left out %q", err, bad)
		}
		problems = append(problems, fmt.Errorf("%q: %v", quoteCut([]byte(v)), err))
	}
	for name, cs := range charsets {
		raw, ok := params[name]
		if !ok {
			continue
		}
		s, err := decodeCharset(cs, raw)
		if err != nil {
			problems = append(problems, fmt.Errorf("parameter %s: %w", name, errorf(ErrUnknownCharset, " %q; bytes not valid UTF-8 replaced", cs)))
		}
		params[name] = s
	}
	return value, params, problems
}

// decodeCharset converts s from the charset label to UTF-8. For an
// unknown charset it returns s with its invalid bytes replaced, and an
// error.
func decodeCharset(label, s string) (string, error) {
	r, err := charset.Reader(label, strings.NewReader(s))
	if err != nil {
		return strings.ToValidUTF8(s, "\uFFFD"), err
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return strings.ToValidUTF8(s, "\uFFFD"), err
	}
	return string(b), nil
}

// maxFilename is the longest file name kept, in bytes: NAME_MAX of Linux
// and the BSDs.
const maxFilename = 255

// cleanFilename reduces a file name from a message to a name that is
// safe to create in a directory: RFC 2047 encoded words decoded, no
// directory part (RFC 2183 §2.3: "the receiving MUA SHOULD NOT respect
// any directory path information"), no control or bidirectional
// formatting characters (which can show "exe.pdf" for "fdp.exe"), not
// "." or "..", at most 255 bytes with its extension kept.
//
// valid is false when the name was not valid UTF-8.
func cleanFilename(s string) (name string, valid bool) {
	if strings.Contains(s, "=?") {
		if d, err := wordDecoder.DecodeHeader(s); err == nil {
			s = d
		}
	}
	valid = utf8.ValidString(s)
	s = strings.ToValidUTF8(s, "\uFFFD")
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	s = strings.Map(func(r rune) rune {
		if isControl(r) || r == '\t' || isBidiControl(r) {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if s == "." || s == ".." {
		return "", valid
	}
	if len(s) > maxFilename {
		ext := path.Ext(s)
		if len(ext) > 16 {
			ext = ""
		}
		s = cutUTF8(s[:len(s)-len(ext)], maxFilename-len(ext)) + ext
	}
	return s, valid
}

// isBidiControl reports the characters that reorder text (Unicode
// Bidi_Control).
func isBidiControl(r rune) bool {
	return r == 0x061C || r == 0x200E || r == 0x200F || 0x202A <= r && r <= 0x202E || 0x2066 <= r && r <= 0x2069
}

// cutUTF8 returns the longest prefix of s of at most n bytes that does
// not split a character.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
