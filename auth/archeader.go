package auth

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
)

// This file reads a message's header as ARC signs it, and canonicalizes
// header fields (RFC 6376 §3.4.1, §3.4.2) for the ARC-Message-Signature
// and the ARC-Seal (RFC 8617 §5.1.1).

// headerField is one field of a message's header as it is written: its
// name (the text before the colon, without the white space around it) and
// its whole text, name, colon and folded lines included, each line ending
// in CRLF.
type headerField struct {
	name string
	text string
}

// readRawHeader reads the header section at the start of br, up to and
// including the empty line that ends it, or to the end of a message
// without a body. A line may end in CRLF or in LF alone (taken for CRLF,
// as the dkim package and dkimpy do); each line of a field's text ends in
// CRLF. It reads at most max bytes: more is ErrHeaderTooLarge. A line that
// is neither a field ("name:") nor the continuation of one is
// ErrMalformedHeader. Other errors are br's.
func readRawHeader(br *bufio.Reader, max int) ([]headerField, error) {
	var fields []headerField
	total := 0
	for {
		line, err := readLine(br, max-total)
		total += len(line)
		switch {
		case errors.Is(err, ErrHeaderTooLarge):
			return nil, fmt.Errorf("%w: more than %d bytes", ErrHeaderTooLarge, max)
		case err != nil && err != io.EOF:
			return nil, err
		}
		text := strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r")
		if text == "" {
			return fields, nil // the empty line, or the end of the message
		}
		if text[0] == ' ' || text[0] == '\t' {
			if len(fields) == 0 {
				return nil, fmt.Errorf("%w: the first line is a continuation: %q", ErrMalformedHeader, truncate(text, 40))
			}
			fields[len(fields)-1].text += text + "\r\n"
		} else {
			name, _, ok := strings.Cut(text, ":")
			name = strings.TrimRight(name, " \t")
			if !ok || !isFieldName(name) {
				return nil, fmt.Errorf("%w: not a header field: %q", ErrMalformedHeader, truncate(text, 40))
			}
			fields = append(fields, headerField{name: name, text: text + "\r\n"})
		}
		if err == io.EOF {
			return fields, nil
		}
	}
}

// readLine returns the next line of br, its LF included, or what is left
// before the end of br with io.EOF. A line longer than budget bytes is
// ErrHeaderTooLarge.
func readLine(br *bufio.Reader, budget int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > budget {
			return line, ErrHeaderTooLarge
		}
		if err == bufio.ErrBufferFull {
			line = append(line, chunk...)
			continue
		}
		if line == nil {
			// The common case: the line fits in br's buffer, which the next
			// read overwrites.
			return append([]byte(nil), chunk...), err
		}
		return append(line, chunk...), err
	}
}

// isFieldName reports whether s is a header field name: one or more
// printable US-ASCII characters other than the colon (RFC 5322 §3.6.8).
func isFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 || s[i] == ':' {
			return false
		}
	}
	return true
}

// canonicalField returns a field's text in the simple (RFC 6376 §3.4.1)
// or relaxed (§3.4.2) header canonicalization. Relaxed: the name in lower
// case, the value unfolded, each run of spaces and tabs made one space,
// none at the ends of the value or around the colon.
func canonicalField(text string, relaxed bool) string {
	if !relaxed {
		return text
	}
	name, value, _ := strings.Cut(text, ":")
	var b strings.Builder
	b.Grow(len(text))
	b.WriteString(asciiLower(strings.TrimRight(name, " \t")))
	b.WriteByte(':')
	space, started := false, false
	for i := 0; i < len(value); i++ {
		switch ch := value[i]; {
		case ch == '\r' && i+1 < len(value) && value[i+1] == '\n':
			i++ // unfold
		case ch == ' ' || ch == '\t':
			space = true
		default:
			if space && started {
				b.WriteByte(' ')
			}
			space, started = false, true
			b.WriteByte(ch)
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

// withoutSignature returns the text of a signature field (an
// ARC-Message-Signature or ARC-Seal) with the value of its b= tag removed,
// the white space around it included (RFC 6376 §3.7): what the signature
// itself covers. A field without a b= tag is returned as it is.
func withoutSignature(text string) string {
	colon := strings.IndexByte(text, ':')
	if colon < 0 {
		return text
	}
	for start := colon + 1; start <= len(text); {
		end := strings.IndexByte(text[start:], ';')
		if end < 0 {
			end = len(text)
		} else {
			end += start
		}
		name, _, ok := strings.Cut(text[start:end], "=")
		if ok && strings.Trim(name, " \t\r\n") == "b" {
			eq := start + len(name) + 1
			return text[:eq] + text[end:]
		}
		start = end + 1
	}
	return text
}

// signedHeaderHash returns the SHA-256 hash that a signature field signs
// (RFC 6376 §3.7): the fields, each canonicalized, then the signature
// field without its b= value, canonicalized, without its final CRLF.
func signedHeaderHash(fields []string, sig string, relaxed bool) []byte {
	h := sha256.New()
	for _, f := range fields {
		io.WriteString(h, canonicalField(f, relaxed))
	}
	io.WriteString(h, strings.TrimSuffix(canonicalField(withoutSignature(sig), relaxed), "\r\n"))
	return h.Sum(nil)
}

// pickFields returns the texts of the fields of h that a signature's h=
// list names, in the list's order (RFC 6376 §5.4.2): each name takes the
// last field of that name not yet taken, from the bottom of the header
// up, and names no field when none is left. Names compare without regard
// to ASCII case. It costs time in proportion to the lengths of h and
// names, whatever they hold.
func pickFields(h []headerField, names []string) []string {
	// The fields of each name, bottom first; picking takes the first.
	byName := make(map[string][]string)
	for i := len(h) - 1; i >= 0; i-- {
		key := asciiLower(h[i].name)
		byName[key] = append(byName[key], h[i].text)
	}
	var out []string
	for _, name := range names {
		key := asciiLower(name)
		if left := byName[key]; len(left) > 0 {
			out = append(out, left[0])
			byName[key] = left[1:]
		}
	}
	return out
}
