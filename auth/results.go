package auth

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-msgauth/authres"
)

// Errors of reading a message's header.
var (
	// ErrHeaderTooLarge is returned by Check when the header of the
	// message is larger than MaxHeaderBytes.
	ErrHeaderTooLarge = errors.New("auth: message header too large")
	// ErrMalformedHeader is returned, wrapped, by Check when the header of
	// the message does not parse (RFC 5322 §2.2).
	ErrMalformedHeader = errors.New("auth: malformed message header")
)

// Results are the outcomes of SPF, DKIM and DMARC for one message.
type Results struct {
	SPF   SPFResult
	DKIM  []DKIMResult // one per signature checked; none for an unsigned message
	DMARC DMARCResult
	// Trusted is true for a message whose client is in Checker.Trusted:
	// nothing was checked, SPF and DMARC are none, DKIM is empty and the
	// verdict is deliver. SPF still holds the client's address, HELO name
	// and MAIL FROM.
	Trusted bool
}

// Verdict returns what to do with the message: DMARC's verdict.
func (r *Results) Verdict() Verdict { return r.DMARC.Verdict }

// Check runs DKIM and DMARC on the message r yields and returns them with
// spf, the SPF result of the same transaction (from SPF, at MAIL FROM). It
// reads r to the end. The error is r's, ErrHeaderTooLarge, or wraps
// ErrMalformedHeader; DNS trouble is never an error, it is in the results.
func (c *Checker) Check(ctx context.Context, spf SPFResult, r io.Reader) (*Results, error) {
	res, _, _, err := c.check(ctx, spf, r, true)
	return res, err
}

// check is Check, also returning the parsed header and its length in bytes
// (blank line included), for the smtpd glue to rewrite. With readAll false
// the body of a message that cannot hold a DKIM signature is not read: the
// glue's r is a spool, which has no read error to report.
func (c *Checker) check(ctx context.Context, spf SPFResult, r io.Reader, readAll bool) (*Results, textproto.Header, int64, error) {
	h, raw, hlen, err := c.readHeader(r)
	if err != nil {
		return nil, h, 0, err
	}
	dk := []DKIMResult{} // what DKIM returns for an unsigned message
	if readAll || maySign(raw[:hlen]) {
		// DKIM reads the message again from its first byte: what the
		// header read consumed, then the rest of r.
		dk, err = c.DKIM(ctx, io.MultiReader(bytes.NewReader(raw), r))
		if err != nil {
			return nil, h, 0, err
		}
	}
	res := &Results{SPF: spf, DKIM: dk}
	res.DMARC = c.DMARC(ctx, h.Values("From"), spf, dk)
	return res, h, hlen, nil
}

// maySign reports whether DKIM could find a signature, or fail to read the
// header, in a message whose header section is head: when head holds the
// text "DKIM-Signature" in any case, or does not end with the empty line
// that the dkim package needs to find. When it reports false, DKIM would
// read the whole message to return no result, which check can skip: an
// unsigned 100 KiB message was read through twice more for nothing.
func maySign(head []byte) bool {
	n := len(head)
	blank := n >= 1 && head[n-1] == '\n' &&
		(n == 1 || head[n-2] == '\n' || (head[n-2] == '\r' && (n == 2 || head[n-3] == '\n')))
	return !blank || containsFold(head, "dkim-signature")
}

// containsFold reports whether b contains s, ignoring ASCII case; s must be
// lower case.
func containsFold(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		j := 0
		for ; j < len(s); j++ {
			c := b[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != s[j] {
				break
			}
		}
		if j == len(s) {
			return true
		}
	}
	return false
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// readHeader parses the header at the start of r. It returns the header,
// the bytes it took from r (the header and what the buffer read ahead),
// and the header's length.
func (c *Checker) readHeader(r io.Reader) (textproto.Header, []byte, int64, error) {
	var raw bytes.Buffer
	max := int64(c.maxHeaderBytes())
	rr := &readErrReader{r: r}
	cr := &countReader{r: io.TeeReader(io.LimitReader(rr, max+1), &raw)}
	br := bufio.NewReaderSize(cr, 4096)
	h, err := textproto.ReadHeader(br)
	hlen := cr.n - int64(br.Buffered())
	switch {
	case rr.err != nil:
		return h, nil, 0, rr.err
	case hlen > max || (err != nil && cr.n > max):
		return h, nil, 0, fmt.Errorf("%w: more than %d bytes", ErrHeaderTooLarge, max)
	case err != nil:
		return h, nil, 0, fmt.Errorf("%w: %s", ErrMalformedHeader, truncate(err.Error(), 80))
	}
	return h, raw.Bytes(), hlen, nil
}

// AuthenticationResults returns the Authentication-Results header field
// (RFC 8601) for these results, name and final CRLF included, ready to be
// prepended to the message: spf, one dkim per signature (or dkim=none),
// then dmarc, one per line. authservID names the receiving server; use its
// host name (RFC 8601 §2.5).
//
// Values that come from the message or the client, such as a DKIM d= or
// the MAIL FROM address, are written only if they are plain domain or
// address text, so that a sender cannot smuggle results into the header.
//
// For Results of a trusted client (Trusted), the field says that no
// check was made: "Authentication-Results: authservID; none" (RFC 8601
// §2.2).
func (r *Results) AuthenticationResults(authservID string) string {
	if r.Trusted {
		return "Authentication-Results: " + authservID + "; none\r\n"
	}
	results := []authres.Result{r.spfResult()}
	if len(r.DKIM) == 0 {
		results = append(results, &authres.DKIMResult{Value: authres.ResultNone})
	}
	for _, d := range r.DKIM {
		ar := &authres.DKIMResult{
			Value:      authres.ResultValue(d.Result),
			Domain:     safeValue(d.Domain),
			Identifier: safeValue(d.Identifier),
		}
		if d.Result != Pass {
			ar.Reason = reason(d.Err)
		}
		results = append(results, ar)
	}
	dm := &authres.DMARCResult{Value: authres.ResultValue(r.DMARC.Result), From: safeValue(r.DMARC.Domain)}
	if r.DMARC.Result != Pass {
		dm.Reason = dmarcReason(r.DMARC)
	}
	results = append(results, dm)

	var b strings.Builder
	b.WriteString("Authentication-Results: ")
	b.WriteString(authservID)
	for _, res := range results {
		// authres.Format leaves a space after a result without
		// parameters; each result goes on its own folded line.
		s := strings.TrimPrefix(authres.Format("", []authres.Result{res}), "; ")
		b.WriteString(";\r\n\t")
		b.WriteString(strings.TrimRight(s, " "))
	}
	b.WriteString("\r\n")
	return b.String()
}

func (r *Results) spfResult() *authres.SPFResult {
	s := &authres.SPFResult{Value: authres.ResultValue(r.SPF.Result)}
	if s.Value == "" {
		s.Value = authres.ResultNone // SPF was not checked
	}
	if r.SPF.UsedHelo() {
		s.Helo = safeValue(r.SPF.Helo)
		return s
	}
	// RFC 8601 §2.7.2: smtp.mailfrom is the address, or its domain when
	// the local part cannot be written plainly.
	s.From = safeValue(r.SPF.MailFrom)
	if s.From == "" {
		s.From = safeValue(r.SPF.Domain)
	}
	return s
}

// safeValue returns s if it is made only of letters, digits and the
// punctuation of domains and plain addresses, and "" otherwise.
func safeValue(s string) string {
	if len(s) > 255 {
		return ""
	}
	for _, ch := range s {
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch >= 0x80:
		case strings.ContainsRune(".-_@+", ch):
		default:
			return ""
		}
	}
	return s
}

// reason turns a cause into a short reason= text: the cause's first clause,
// without package prefixes or anything a DNS error adds (server addresses),
// and without characters that need quoting.
func reason(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	for _, p := range []string{"auth: dkim: ", "dkim: "} {
		s = strings.TrimPrefix(s, p)
	}
	if strings.HasPrefix(s, "signature of ") {
		if i := strings.Index(s, ": "); i >= 0 {
			s = s[i+2:]
		}
		s = strings.TrimPrefix(s, "dkim: ")
	}
	if i := strings.IndexByte(s, ':'); i >= 0 {
		s = s[:i]
	}
	return cleanText(s)
}

// dmarcReason says in a few words why DMARC did not pass.
func dmarcReason(d DMARCResult) string {
	switch {
	case errors.Is(d.Err, ErrSeveralFrom):
		return "several From addresses"
	case errors.Is(d.Err, ErrNoFrom):
		return "no From header"
	case errors.Is(d.Err, ErrFromInvalid), errors.Is(d.Err, ErrFromNoDomain):
		return "invalid From header"
	case errors.Is(d.Err, ErrSeveralRecords):
		return "several DMARC records"
	case errors.Is(d.Err, ErrInvalidRecord):
		return "invalid DMARC record"
	case d.Result == None:
		return "no DMARC record"
	case d.Result == TempError:
		return "temporary DNS failure"
	case d.Result == Fail && !d.Sampled:
		return "policy " + d.Policy + " not sampled (pct)"
	case d.Result == Fail:
		return "policy " + d.Policy
	}
	return ""
}

// cleanText keeps letters, digits, spaces and harmless punctuation.
func cleanText(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		case strings.ContainsRune(" .-_,'", r):
			return r
		}
		return ' '
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// AuthservID returns the authserv-id of an Authentication-Results value:
// its first word after any comments (RFC 8601 §2.2), as written, or "" if
// there is none.
func AuthservID(value string) string {
	s := skipCFWS(value)
	if strings.HasPrefix(s, `"`) {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			switch s[i] {
			case '\\':
				if i+1 < len(s) {
					i++
					b.WriteByte(s[i])
				}
			case '"':
				return b.String()
			default:
				b.WriteByte(s[i])
			}
		}
		return ""
	}
	end := strings.IndexAny(s, " \t\r\n;(")
	if end < 0 {
		end = len(s)
	}
	return s[:end]
}

// skipCFWS skips white space and comments, nested or not, at the start of
// s (RFC 5322 §3.2.2).
func skipCFWS(s string) string {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch == '\\' && depth > 0:
			i++
		case ch == '(':
			depth++
		case ch == ')' && depth > 0:
			depth--
		case depth > 0, ch == ' ', ch == '\t', ch == '\r', ch == '\n':
		default:
			return s[i:]
		}
	}
	return ""
}

// removeForged deletes from h the Authentication-Results fields that claim
// authservID, as RFC 8601 §5 asks of a border MTA, and returns how many it
// deleted. An id claims it when it names the same host, whatever the
// spelling: in any case, with a final dot, quoted, after comments, or in
// U-labels for A-labels (sameAuthservID).
func removeForged(h *textproto.Header, authservID string) int {
	n := 0
	fields := h.FieldsByKey("Authentication-Results")
	for fields.Next() {
		if sameAuthservID(AuthservID(fields.Value()), authservID) {
			fields.Del()
			n++
		}
	}
	return n
}

// sameAuthservID reports whether the authserv-id id names the host ours
// names. Names are compared in the form ASCIIDomain gives, or else
// without white space at the ends, a final dot and case; a Unicode case
// fold (strings.EqualFold) counts too: removing a field that some reader
// might take for ours is the safe side.
func sameAuthservID(id, ours string) bool {
	id = strings.TrimSpace(id)
	if id == "" {
		return false
	}
	if strings.EqualFold(id, ours) {
		return true
	}
	a, errA := ASCIIDomain(id)
	b, errB := ASCIIDomain(ours)
	if errA == nil && errB == nil {
		return a == b
	}
	trim := func(s string) string { return strings.TrimSuffix(strings.TrimSpace(s), ".") }
	return strings.EqualFold(trim(id), trim(ours))
}
