package message

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime/quotedprintable"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
)

// transferDecoder returns r with its Content-Transfer-Encoding (RFC 2045
// §6) decoded, or r itself and an error wrapping ErrUnknownEncoding.
func transferDecoder(r io.Reader, cte string) (io.Reader, error) {
	enc := strings.ToLower(strings.TrimSpace(cte))
	if i := strings.IndexAny(enc, " \t(;"); i >= 0 {
		enc = enc[:i] // a comment or a parameter some mailers add
	}
	switch enc {
	case "", "7bit", "8bit", "binary":
		return r, nil
	case "quoted-printable":
		return quotedprintable.NewReader(r), nil // its errors say "quotedprintable:"
	case "base64":
		return base64Errors{base64.NewDecoder(base64.StdEncoding, spaceToNewline{r})}, nil
	}
	return r, errorf(ErrUnknownEncoding, " %q: content left encoded", quoteCut([]byte(cte)))
}

// base64Errors says that an error comes from the base64 decoder, and
// what its unexpected end means.
type base64Errors struct{ r io.Reader }

// The errors of the base64 decoder, said without its offsets, which count
// from where the decoder's last read began, not from the part's start.
var (
	errBadBase64        = errors.New("characters outside the alphabet or after the padding (RFC 2045 §6.8)")
	errUnfinishedBase64 = errors.New("data ends inside a group of 4 characters (RFC 2045 §6.8)")
)

func (d base64Errors) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	switch {
	case err == nil || err == io.EOF:
	case err == io.ErrUnexpectedEOF:
		err = fmt.Errorf("base64: %w", errUnfinishedBase64)
	case errors.As(err, new(base64.CorruptInputError)):
		err = fmt.Errorf("base64: %w", errBadBase64)
	default:
		err = fmt.Errorf("base64: %w", err)
	}
	return n, err
}

// spaceToNewline turns spaces and tabs into line feeds, which the base64
// decoder skips: some mailers indent base64 lines.
type spaceToNewline struct{ r io.Reader }

func (s spaceToNewline) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	for _, c := range []byte{' ', '\t'} { // IndexByte: most lines have none
		for b := p[:n]; ; {
			i := bytes.IndexByte(b, c)
			if i < 0 {
				break
			}
			b[i], b = '\n', b[i+1:]
		}
	}
	return n, err
}

// charsetDecoder returns r converted from the charset label to UTF-8, or
// r itself and an error wrapping ErrUnknownCharset. UTF-8 and US-ASCII
// (the default, RFC 2046 §4.1.2) are passed as they are, so that bytes
// that are not UTF-8 are noticed and reported rather than silently
// replaced. ISO-8859-1 is read as windows-1252, its superset for every
// printable character, as the WHATWG Encoding Standard (§4.2) has
// browsers do: mail labelled ISO-8859-1 often has windows-1252 quotes.
func charsetDecoder(r io.Reader, label string) (io.Reader, error) {
	l := strings.ToLower(strings.Trim(strings.TrimSpace(label), `"'`))
	switch l {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return r, nil
	case "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "l1", "iso-ir-100", "cp819", "ibm819", "csisolatin1", "iso_8859-1:1987":
		l = "windows-1252"
	}
	dec, err := charset.Reader(l, r)
	if err != nil {
		return r, errorf(ErrUnknownCharset, ": %v; bytes not valid UTF-8 replaced", err)
	}
	return dec, nil
}

// A body is what readText read: text, valid UTF-8 without NUL bytes.
type body struct {
	text      string
	truncated bool  // cut at the limit
	invalid   bool  // bytes that were not UTF-8 were replaced
	nul       bool  // NUL bytes were removed
	err       error // the read error that ended it early, if any
}

// readText reads UTF-8 from r, at most max bytes of it (max < 0: no
// limit). It holds at most max+1 bytes in memory, twice that when it
// has to repair the text.
func readText(r io.Reader, max int64) body {
	var b strings.Builder
	var err error
	var truncated bool
	if max < 0 {
		_, err = io.Copy(&b, r)
	} else {
		_, err = io.Copy(&b, io.LimitReader(r, max+1))
		truncated = int64(b.Len()) > max
	}
	s := b.String()
	if truncated {
		s = cutUTF8(s, int(max)) // a character the cut would split is not an invalid one
	}
	out := body{truncated: truncated, err: err}
	if strings.IndexByte(s, 0) >= 0 {
		s, out.nul = strings.ReplaceAll(s, "\x00", ""), true
	}
	if !utf8.ValidString(s) {
		s, out.invalid = strings.ToValidUTF8(s, "\uFFFD"), true
		if max >= 0 && int64(len(s)) > max {
			s, out.truncated = cutUTF8(s, int(max)), true
		}
	}
	out.text = s
	return out
}

// A countReader counts the bytes read through it and keeps the first
// error other than io.EOF, which it then returns on every read.
type countReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *countReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// A fillReader fills each buffer it is given, as far as its reader goes.
// Between nested multipart readers, it keeps the inner one from reading a
// line at a time when the outer one returns a line at a time (as it does
// for each line that starts like its boundary): one read of a buffer
// through all the levels instead of one per line and level.
type fillReader struct{ r io.Reader }

func (f fillReader) Read(p []byte) (int, error) {
	n := 0
	for empty := 0; n < len(p) && empty < 100; {
		m, err := f.r.Read(p[n:])
		n += m
		if err != nil {
			return n, err
		}
		if m == 0 {
			empty++ // as bufio does, give up on a reader that returns nothing
		}
	}
	return n, nil
}

// A budgetReader lets a multipart reader read at most left bytes while it
// reads a part's header, so that the header cannot take more memory than
// the limit. left < 0 means no limit, for reading bodies.
type budgetReader struct {
	r        io.Reader
	left     int
	exceeded bool
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if b.left == 0 {
		b.exceeded = true
		return 0, ErrHeaderTooLong
	}
	if b.left > 0 && len(p) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	if b.left > 0 {
		b.left -= n
	}
	return n, err
}
