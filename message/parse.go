package message

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/textproto"
	"strconv"
	"strings"
)

// Parse reads a message from r with the default Options and returns what
// applications use of it. See ParseWithOptions.
func Parse(r io.Reader) (*Message, error) {
	return ParseWithOptions(r, nil)
}

// ParseWithOptions reads a message (RFC 5322, with MIME: RFC 2045–2049)
// from r, as a Data handler gets it, and returns its Message. It reads r
// once, as far as the end of the last part; attachments' contents go to
// opts.Attachment as they come.
//
// The Message is never nil. The error is
//   - nil when everything was read;
//   - a *ParseError when the message was read to its end but some parts
//     of it could not be (a damaged encoding, an unknown charset, a
//     malformed header field, a limit of opts): the Message holds the
//     rest, and the ParseError says what was left out and where;
//   - the error opts.Attachment returned, which stopped Parse;
//   - an error wrapping the error from r, which stopped Parse.
func ParseWithOptions(r io.Reader, opts *Options) (*Message, error) {
	p := &parser{lim: opts.limits(), src: &sourceReader{r: r}, m: &Message{}}
	if opts != nil {
		p.attachment = opts.Attachment
	}
	p.run()
	return p.m, p.result()
}

// A parser holds the state of one ParseWithOptions.
type parser struct {
	lim        limits
	attachment AttachmentFunc
	src        *sourceReader
	m          *Message

	parts            int  // parts met so far
	textSet, htmlSet bool // Text, HTML have been chosen
	truncated        bool // the end of the input inside a multipart was reported

	problems []Problem
	omitted  int
	stop     error // why Parse stopped early: errLimit or the Attachment func's error
}

// errLimit stops Parse at MaxParts; the problem is reported already.
var errLimit = errors.New("message: limit reached")

// maxBoundary is the longest boundary read, far above the 70 bytes of
// RFC 2046 §5.1.1: a boundary line must fit in a multipart reader's
// buffer.
const maxBoundary = 1000

// peekSize is how far a multipart reader reads ahead (the buffer size of
// mime/multipart).
const peekSize = 4096

func (p *parser) run() {
	br := bufio.NewReaderSize(p.src, peekSize)
	h, problems := readHeader(br, p.lim.header, true)
	p.m.Header = h
	for _, err := range problems {
		p.problem("", err)
	}
	if p.failed() {
		return
	}
	p.readFields()
	p.entity(p.m.Header.Get, br, "", 0, "")
}

func (p *parser) result() error {
	switch {
	case p.src.err != nil:
		return fmt.Errorf("message: reading the message: %w", p.src.err)
	case p.stop != nil && p.stop != errLimit:
		return p.stop
	case len(p.problems) > 0:
		return &ParseError{Problems: p.problems, Omitted: p.omitted}
	}
	return nil
}

func (p *parser) failed() bool { return p.stop != nil || p.src.err != nil }

func (p *parser) problem(part string, err error) {
	if len(p.problems) == maxProblems {
		p.omitted++
		return
	}
	p.problems = append(p.problems, Problem{Part: part, Err: err})
}

// An entity is the message or one of its parts (RFC 2045 §2.4).
type entity struct {
	get       func(key string) string // its header fields
	section   string                  // its section number, "" for the message
	depth     int                     // how many multiparts it is in
	parent    string                  // the subtype of the multipart it is in
	mediaType string
	params    map[string]string // of Content-Type
}

// entity reads the entity with header get and content body.
func (p *parser) entity(get func(string) string, body io.Reader, section string, depth int, parent string) {
	e := &entity{get: get, section: section, depth: depth, parent: parent}
	e.mediaType, e.params = p.contentType(e)
	if strings.HasPrefix(e.mediaType, "multipart/") {
		if !p.multipart(e, body) {
			// Not opened: its body goes as it is (a multipart has no
			// transfer encoding but 7bit, 8bit or binary, RFC 2045 §6.4).
			p.attach(e, body, "", "", "")
		}
		return
	}
	disposition, filename := p.disposition(e)
	cte := get("Content-Transfer-Encoding")
	if disposition != "attachment" && filename == "" {
		switch {
		case e.mediaType == "text/plain" && !p.textSet:
			p.textSet = true
			b := p.text(e, body, cte, "text")
			p.m.Text, p.m.TextTruncated = b.text, b.truncated
			return
		case e.mediaType == "text/html" && !p.htmlSet:
			p.htmlSet = true
			b := p.text(e, body, cte, "HTML")
			p.m.HTML, p.m.HTMLTruncated = b.text, b.truncated
			return
		}
	}
	p.attach(e, body, cte, disposition, filename)
}

// contentType returns the media type and parameters of e (RFC 2045 §5):
// text/plain when it has none or an invalid one (RFC 2045 §5.2), or
// message/rfc822 in a multipart/digest (RFC 2046 §5.1.5).
func (p *parser) contentType(e *entity) (string, map[string]string) {
	v := e.get("Content-Type")
	if strings.TrimSpace(v) == "" {
		if e.parent == "digest" {
			return "message/rfc822", nil
		}
		return "text/plain", nil
	}
	mediaType, params, problems := parseParams(v)
	// RFC 6838 §4.2: type and subtype have at most 127 characters each.
	if !strings.Contains(mediaType, "/") || len(mediaType) > 255 {
		p.problem(e.section, fmt.Errorf("header field Content-Type %q: not a media type, read as text/plain (RFC 2045 §5.2)", quoteCut([]byte(v))))
		return "text/plain", nil
	}
	for _, err := range problems {
		p.problem(e.section, fmt.Errorf("header field Content-Type %w", err))
	}
	return mediaType, params
}

// disposition returns the disposition type of e in lower case, "" if it
// has none (RFC 2183 §2), and its file name, raw.
func (p *parser) disposition(e *entity) (disposition, filename string) {
	var params map[string]string
	if v := e.get("Content-Disposition"); strings.TrimSpace(v) != "" {
		var problems []error
		disposition, params, problems = parseParams(v)
		for _, err := range problems {
			p.problem(e.section, fmt.Errorf("header field Content-Disposition %w", err))
		}
	}
	filename = params["filename"]
	if filename == "" {
		filename = e.params["name"] // RFC 2046 §4.5.1, obsolete but common
	}
	return disposition, filename
}

// multipart reads the parts of the multipart e (RFC 2046 §5.1). It
// returns false, having read nothing, when it does not open it.
func (p *parser) multipart(e *entity, body io.Reader) bool {
	if p.lim.depth >= 0 && e.depth >= p.lim.depth {
		p.problem(e.section, errorf(ErrTooDeep, " (%d): %s not opened, listed as an attachment", p.lim.depth, e.mediaType))
		return false
	}
	boundary := e.params["boundary"]
	switch {
	case boundary == "":
		p.problem(e.section, fmt.Errorf("%s without a boundary (RFC 2046 §5.1.1): listed as an attachment", e.mediaType))
		return false
	case len(boundary) > maxBoundary:
		p.problem(e.section, fmt.Errorf("%s with a boundary of %d bytes (RFC 2046 §5.1.1 allows 70): listed as an attachment", e.mediaType, len(boundary)))
		return false
	}
	where := "the message"
	if e.section != "" {
		where = "part " + e.section
	}
	// The preamble is skipped here, whatever the length of its lines,
	// which mime/multipart would refuse past 4 KiB.
	br := bufio.NewReaderSize(fillReader{body}, peekSize)
	if err := skipPreamble(br, boundary); err != nil && p.src.err == nil {
		p.problem(e.section, fmt.Errorf("%s: reading the preamble: %w", e.mediaType, err))
		return true
	}
	budget := &budgetReader{r: br, left: -1}
	mr := multipart.NewReader(budget, boundary)
	for n := 1; ; n++ {
		child := strconv.Itoa(n)
		if e.section != "" {
			child = e.section + "." + child
		}
		if p.lim.header >= 0 {
			budget.left = p.lim.header + peekSize
		}
		part, err := mr.NextRawPart()
		budget.left = -1
		ended := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		switch {
		case err == io.EOF:
			return true
		case err != nil && p.src.err != nil:
			return true
		case err != nil && budget.exceeded:
			p.problem(child, errorf(ErrHeaderTooLong, " (%d bytes): this part and the rest of %s were not read", p.lim.header, where))
			return true
		case ended && n == 1:
			p.problem(e.section, fmt.Errorf("%s: no part, boundary %q not found (RFC 2046 §5.1.1)", e.mediaType, boundary))
			return true
		case ended:
			p.truncatedInput(e.section, fmt.Sprintf("%s ends without its closing boundary", where))
			return true
		case err != nil:
			p.problem(child, fmt.Errorf("%v: this part and the rest of %s were not read", err, where))
			return true
		}
		p.truncated = false // the input goes on: a later end is a new problem
		p.parts++
		if p.lim.parts >= 0 && p.parts > p.lim.parts {
			p.problem(child, errorf(ErrTooManyParts, " (%d): this part and the rest of the message were not read", p.lim.parts))
			p.stop = errLimit
			return true
		}
		subtype := strings.TrimPrefix(e.mediaType, "multipart/")
		p.entity(textproto.MIMEHeader(part.Header).Get, part, child, e.depth+1, subtype)
		if p.failed() {
			return true
		}
		// What the part left unread: the epilogue of a multipart in it.
		if _, err := io.Copy(io.Discard, part); err != nil {
			p.readFailed(child, err, err, fmt.Sprintf("%s ends without its closing boundary", where))
		}
	}
}

// text reads the body e as text: transfer encoding and charset decoded,
// cut to MaxTextBytes. what names it in problems.
func (p *parser) text(e *entity, r io.Reader, cte, what string) body {
	raw := &countReader{r: r}
	dec, err := transferDecoder(raw, cte)
	if err != nil {
		p.problem(e.section, fmt.Errorf("%s: %w", what, err))
	}
	dec, charsetErr := charsetDecoder(dec, e.params["charset"])
	if charsetErr != nil {
		p.problem(e.section, fmt.Errorf("%s: %w", what, charsetErr))
	}
	b := readText(dec, p.lim.text)
	if b.err != nil {
		p.readFailed(e.section, raw.err, b.err, fmt.Sprintf("%s cut after %d bytes", what, len(b.text)))
	}
	if b.invalid && charsetErr == nil {
		cs := e.params["charset"]
		if cs == "" {
			cs = "us-ascii"
		}
		p.problem(e.section, fmt.Errorf("%s is not valid %s: bytes replaced by U+FFFD", what, cs))
	}
	if b.nul {
		p.problem(e.section, fmt.Errorf("%s has NUL bytes (RFC 5322 §2.3): removed", what))
	}
	if b.truncated { // the rest, unread
		if _, err := io.Copy(io.Discard, raw); err != nil {
			p.readFailed(e.section, raw.err, err, what+" (after the cut)")
		}
	}
	return b
}

// attach lists e as an attachment and hands its content to the
// Attachment func.
func (p *parser) attach(e *entity, r io.Reader, cte, disposition, filename string) {
	name, valid := cleanFilename(filename)
	if !valid {
		p.problem(e.section, fmt.Errorf("file name %q is not valid UTF-8: bytes replaced by U+FFFD", quoteCut([]byte(filename))))
	}
	a := &Attachment{
		Part:        e.section,
		Filename:    name,
		ContentType: e.mediaType,
		Disposition: dispositionOf(disposition, e),
		ContentID:   p.contentID(e),
	}
	p.m.Attachments = append(p.m.Attachments, a)
	raw := &countReader{r: r}
	dec, err := transferDecoder(raw, cte)
	if err != nil {
		p.problem(e.section, err)
	}
	content := &countReader{r: dec}
	var out io.Reader = content
	if (a.ContentType == "message/rfc822" || a.ContentType == "message/global") && a.Filename == "" {
		br := bufio.NewReaderSize(content, forwardedPeek)
		a.Filename = forwardedName(br)
		out = br
	}
	if p.attachment != nil {
		err := p.attachment(a, out)
		if err != nil && !(content.err != nil && errors.Is(err, content.err)) {
			if p.src.err == nil {
				p.stop = err
			}
			return
		}
	}
	_, _ = io.Copy(io.Discard, out) // the error, if any, is content.err
	a.Size = content.n
	if content.err != nil {
		p.readFailed(e.section, raw.err, content.err, fmt.Sprintf("content cut after %d bytes", a.Size))
	}
}

// readFailed reports err, met reading the content of part, what was read
// of it. containerErr is the error of the reader under the decoders: an
// unexpected EOF there means the input ended inside a multipart.
func (p *parser) readFailed(part string, containerErr, err error, what string) {
	switch {
	case p.src.err != nil: // Parse returns it
	case errors.Is(containerErr, io.ErrUnexpectedEOF):
		p.truncatedInput(part, what)
	default:
		p.problem(part, fmt.Errorf("%s: %w", what, err))
	}
}

// truncatedInput reports that a multipart ends before its closing
// boundary, once: when a part says so, the multiparts around it that end
// with it do not.
func (p *parser) truncatedInput(part, what string) {
	if !p.truncated {
		p.truncated = true
		p.problem(part, errorf(ErrTruncated, ": %s", what))
	}
}

// dispositionOf returns "inline" or "attachment" for the disposition type
// d of e (RFC 2183 §2).
func dispositionOf(d string, e *entity) string {
	switch d {
	case "inline", "attachment":
		return d
	case "":
		if strings.HasPrefix(e.mediaType, "text/") || e.parent == "related" {
			return "inline"
		}
	}
	return "attachment" // RFC 2183 §2.8
}

// maxContentID bounds the Content-ID kept, the length of a line
// (RFC 5322 §2.1.1).
const maxContentID = 998

// contentID returns the Content-ID of e (RFC 2045 §7) without its angle
// brackets.
func (p *parser) contentID(e *entity) string {
	id := strings.TrimSpace(e.get("Content-Id"))
	if strings.HasPrefix(id, "<") {
		if end := strings.IndexByte(id, '>'); end > 0 {
			id = id[1:end]
		}
	}
	if len(id) > maxContentID {
		p.problem(e.section, fmt.Errorf("header field Content-ID longer than %d bytes: left out", maxContentID))
		return ""
	}
	return p.clean(e.section, "header field Content-ID", strings.TrimSpace(id))
}

// forwardedPeek is how much of a forwarded message is looked at for its
// Subject.
const forwardedPeek = 32 << 10

// forwardedName returns a file name for the forwarded message br
// (RFC 2046 §5.2.1) from its Subject, as mail clients do, or "".
func forwardedName(br *bufio.Reader) string {
	head, _ := br.Peek(forwardedPeek)
	h, _ := readHeader(bufio.NewReader(bytes.NewReader(head)), -1, false)
	subject, err := h.Text("Subject")
	if err != nil {
		subject = h.Get("Subject")
	}
	subject = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' {
			return '-'
		}
		return r
	}, strings.TrimSpace(subject))
	if subject == "" {
		return ""
	}
	name, _ := cleanFilename(subject + ".eml")
	return name
}

// skipPreamble reads br up to the first line that starts with "--" and
// the boundary (RFC 2046 §5.1.1), leaving that line unread.
func skipPreamble(br *bufio.Reader, boundary string) error {
	dash := "--" + boundary
	for {
		if b, err := br.Peek(len(dash)); string(b) == dash {
			return nil
		} else if err != nil {
			if err == io.EOF {
				return nil // mime/multipart says the boundary is missing
			}
			return err
		}
		for { // the rest of the line
			_, err := br.ReadSlice('\n')
			if err == nil {
				break
			}
			if err != bufio.ErrBufferFull {
				if err == io.EOF {
					return nil
				}
				return err
			}
		}
	}
}

// A sourceReader keeps the first error other than io.EOF of the reader
// Parse was given: that error stops Parse.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(b []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.r.Read(b)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}
