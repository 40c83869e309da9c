package auth

import (
	"errors"
	"fmt"
	"strings"
)

// This file reads the tag lists of ARC header fields and DKIM key records
// (RFC 6376 §3.2, RFC 8617 §4.1).

// tagList is a tag=value list: each tag's value, without the white space
// around it, by the tag's name.
type tagList map[string]string

// errTagList is wrapped by the errors of parseTagList.
var errTagList = errors.New("malformed tag list")

// parseTagList reads s as a tag-list (RFC 6376 §3.2):
//
//	tag-list  = tag-spec *( ";" tag-spec ) [ ";" ]
//	tag-spec  = [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
//	tag-name  = ALPHA *( ALPHA / DIGIT / "_" )
//	tag-value = [ tval *( 1*(WSP / FWS) tval ) ]   ; tval = 1*VALCHAR
//
// VALCHAR is %x21-3A / %x3C-7E; bytes above %x7F are taken too, for
// domains in U-labels (RFC 8616). Names are case-sensitive; a name given
// twice makes the whole list invalid (§3.2). Empty tag-specs (";;") are
// skipped, as the dkim package does.
func parseTagList(s string) (tagList, error) {
	tags := make(tagList)
	for spec := range strings.SplitSeq(s, ";") {
		if strings.Trim(spec, " \t\r\n") == "" {
			continue
		}
		name, value, ok := strings.Cut(spec, "=")
		if !ok {
			return nil, fmt.Errorf("%w: %q has no \"=\"", errTagList, truncate(strings.TrimSpace(spec), 30))
		}
		name = strings.Trim(name, " \t\r\n")
		if !isTagName(name) {
			return nil, fmt.Errorf("%w: bad tag name %q", errTagList, truncate(name, 30))
		}
		if _, dup := tags[name]; dup {
			return nil, fmt.Errorf("%w: tag %s= given twice", errTagList, name)
		}
		value = strings.Trim(value, " \t\r\n")
		for i := 0; i < len(value); i++ {
			if ch := value[i]; (ch < 0x21 && ch != ' ' && ch != '\t' && ch != '\r' && ch != '\n') || ch == 0x7f {
				return nil, fmt.Errorf("%w: control character in %s=", errTagList, name)
			}
		}
		tags[name] = value
	}
	return tags, nil
}

// isTagName reports whether s is ALPHA *( ALPHA / DIGIT / "_" ).
func isTagName(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isAlpha(s[i]) && (s[i] < '0' || s[i] > '9') && s[i] != '_' {
			return false
		}
	}
	return true
}

func isAlpha(ch byte) bool { return ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' }

// maxInstance is the highest instance an ARC set may have (RFC 8617
// §4.2.1).
const maxInstance = 50

// parseInstance reads an instance number, i= (RFC 8617 §4.2.1): decimal
// digits and nothing else. It reads up to 9 digits, so that an instance
// above maxInstance is still told and reported; more is not a number.
func parseInstance(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// aarInstance reads the instance that starts the value of an
// ARC-Authentication-Results field (RFC 8617 §4.1.1): "i=" and its number,
// perhaps with comments and white space around, then ";".
func aarInstance(value string) (int, bool) {
	s := skipCFWS(value)
	if !strings.HasPrefix(s, "i") {
		return 0, false
	}
	s = skipCFWS(s[1:])
	if !strings.HasPrefix(s, "=") {
		return 0, false
	}
	s = skipCFWS(s[1:])
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	n, ok := parseInstance(s[:end])
	if !ok || !strings.HasPrefix(skipCFWS(s[end:]), ";") {
		return 0, false
	}
	return n, true
}

// stripFWS removes the white space inside a tag value, such as the
// folding of a base64 b= or bh=.
func stripFWS(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
}

// headerNames reads the h= list of a signature (RFC 6376 §3.5): field
// names separated by colons, with white space around them.
func headerNames(h string) []string {
	var names []string
	for name := range strings.SplitSeq(h, ":") {
		names = append(names, strings.Trim(name, " \t\r\n"))
	}
	return names
}
