package message

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sentinel errors a Problem may wrap; test for them with errors.Is on the
// error Parse returns.
var (
	// ErrHeaderTooLong: a header (the message's or a part's) is longer than
	// Options.MaxHeaderBytes.
	ErrHeaderTooLong = errors.New("message: header longer than the limit")
	// ErrTooManyParts: the message has more parts than Options.MaxParts.
	ErrTooManyParts = errors.New("message: more parts than the limit")
	// ErrTooDeep: multiparts are nested deeper than Options.MaxDepth.
	ErrTooDeep = errors.New("message: multiparts nested deeper than the limit")
	// ErrUnknownCharset: a charset (of a body or an encoded word) that the
	// charset tables of github.com/emersion/go-message/charset do not know.
	ErrUnknownCharset = errors.New("message: unknown charset")
	// ErrUnknownEncoding: a Content-Transfer-Encoding other than those of
	// RFC 2045 §6.1 (7bit, 8bit, binary, quoted-printable, base64).
	ErrUnknownEncoding = errors.New("message: unknown transfer encoding")
	// ErrTruncated: a multipart ends before its closing boundary
	// (RFC 2046 §5.1.1), most often because the message was cut short.
	ErrTruncated = errors.New("message: a multipart ends before its closing boundary")
)

// A kindError is a sentinel error with details. It reads without the
// sentinel's "message: " prefix, which the ParseError around it has.
type kindError struct {
	kind   error
	detail string
}

func (e *kindError) Error() string {
	return strings.TrimPrefix(e.kind.Error(), "message: ") + e.detail
}

func (e *kindError) Unwrap() error { return e.kind }

// errorf returns the sentinel error kind with details.
func errorf(kind error, format string, args ...any) error {
	return &kindError{kind, fmt.Sprintf(format, args...)}
}

// maxProblems is how many problems a ParseError lists; the others are
// only counted, so a hostile message cannot grow the list without bound.
const maxProblems = 100

// A Problem is one thing Parse could not read, and where it is.
type Problem struct {
	// Part is the section number of the part the problem is in, as IMAP
	// numbers parts (RFC 3501 §6.4.5): "2" is the second part of the
	// message, "2.1" the first part inside it. "" is the message itself:
	// its header, or its body when it is not multipart.
	Part string
	// Err says what could not be read and how much of it was read.
	Err error
}

// Error returns the problem prefixed with its part.
func (p Problem) Error() string {
	if p.Part == "" {
		return p.Err.Error()
	}
	return "part " + p.Part + ": " + p.Err.Error()
}

// Unwrap returns p.Err.
func (p Problem) Unwrap() error { return p.Err }

// ParseError lists what Parse could not read in a message it otherwise
// read to the end: the Message beside it holds everything that could be
// read. Mail in the wild is often a little broken, so a ParseError is
// usually a reason to log, not to refuse the message.
type ParseError struct {
	// Problems lists the first 100 problems in the order met.
	Problems []Problem
	// Omitted counts the problems found beyond those listed.
	Omitted int
}

// Error joins the problems in one line.
func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString("message: ")
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.Error())
	}
	if e.Omitted > 0 {
		b.WriteString("; and " + strconv.Itoa(e.Omitted) + " more problems")
	}
	return b.String()
}

// Unwrap returns the problems, so that errors.Is and errors.As look into
// each one.
func (e *ParseError) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p
	}
	return errs
}
