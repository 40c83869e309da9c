package auth

import (
	"bufio"
	"fmt"
	"net/textproto"
	"strings"
	"unicode"
)

// dkimHeader is a message's header section as the dkim package reads it:
// one string per field, its continuation lines included, each line ending
// in CRLF.
type dkimHeader []string

// readDKIMHeader reads the header section at the start of br as the dkim
// package does: net/textproto lines, a line that starts with a space or a
// tab continues the field before it, the first empty line ends the
// section. Written out again, the fields read back the same, so a
// verifier given them sees what it would have seen in the message. The
// error says what the dkim package's would, and wraps br's.
func readDKIMHeader(br *bufio.Reader) (dkimHeader, error) {
	tr := textproto.NewReader(br)
	var h dkimHeader
	for {
		line, err := tr.ReadLine()
		switch {
		case err != nil:
			return nil, fmt.Errorf("failed to read header: %w", err)
		case line == "":
			return h, nil
		case len(h) > 0 && (line[0] == ' ' || line[0] == '\t'):
			h[len(h)-1] += line + "\r\n"
		default:
			h = append(h, line+"\r\n")
		}
	}
}

// isSignatureField reports whether field is a DKIM-Signature, by the dkim
// package's reading of its name: up to the first colon, spaces trimmed,
// any case.
func isSignatureField(field string) bool {
	name, _, _ := strings.Cut(field, ":")
	return strings.EqualFold(strings.TrimSpace(name), "DKIM-Signature")
}

// signatures returns the indexes of h's DKIM-Signature fields, in header
// order.
func (h dkimHeader) signatures() []int {
	var idx []int
	for i, f := range h {
		if isSignatureField(f) {
			idx = append(idx, i)
		}
	}
	return idx
}

// viewFor returns the header section, empty line included, that lets the
// dkim package check the signature at index sig alone: h without the
// DKIM-Signature fields above sig, which then comes first.
//
// This changes nothing the signature covers. It covers the fields its h=
// names, picked from the bottom of the header up (RFC 6376 §5.4.2): the
// fields of other names stay where they were, and the j-th DKIM-Signature
// from the bottom is the same in both headers for every j up to sig's own
// place. A signature that names DKIM-Signature more often than that
// covers its own field, b= included, and can never verify, in either
// header.
func (h dkimHeader) viewFor(sig int) []byte {
	n := 2
	for _, f := range h {
		n += len(f)
	}
	b := make([]byte, 0, n)
	for i, f := range h {
		if i < sig && isSignatureField(f) {
			continue
		}
		b = append(b, f...)
	}
	return append(b, "\r\n"...)
}

// signer returns the signing domain (d=) and identifier (i=, or "@" and
// the domain) of a DKIM-Signature field as the dkim package reads them, or
// what of them can be read, for a signature that was not checked to the
// end.
func signer(field string) (domain, identifier string) {
	_, value, _ := strings.Cut(field, ":")
	for _, tag := range strings.Split(value, ";") {
		name, v, ok := strings.Cut(tag, "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(name) {
		case "d":
			domain = stripSpace(v)
		case "i":
			identifier = stripSpace(v)
		}
	}
	if identifier == "" {
		identifier = "@" + domain
	}
	return domain, identifier
}

// stripSpace removes all white space from s.
func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}
