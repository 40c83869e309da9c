package auth

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"
)

// ErrUnusableFrom is wrapped by the errors for a From header that DMARC
// cannot judge cleanly (RFC 7489 §6.6.1): missing, given more than once,
// naming several authors, or not parsing as one mailbox at a domain
// (RFC 5322 §3.6.2). Such a message is refused, or put in Junk with
// Checker.QuarantineUnusableFrom.
var ErrUnusableFrom = errors.New("auth: dmarc: unusable From header")

// Errors for a From header that DMARC cannot evaluate (RFC 7489 §6.6.1).
// Each wraps ErrUnusableFrom.
var (
	ErrNoFrom       = fmt.Errorf("%w: message has no From header", ErrUnusableFrom)
	ErrSeveralFrom  = fmt.Errorf("%w: From header names several authors", ErrUnusableFrom)
	ErrFromNoDomain = fmt.Errorf("%w: From address has no domain", ErrUnusableFrom)
	ErrFromInvalid  = fmt.Errorf("%w: From header does not parse", ErrUnusableFrom)
)

// addressParser is the second reader of From headers. Only the addresses
// matter, so words in unknown charsets are left as they are instead of
// failing the header.
var addressParser = mail.AddressParser{WordDecoder: &mime.WordDecoder{
	CharsetReader: func(charset string, input io.Reader) (io.Reader, error) { return input, nil },
}}

// AuthorDomains returns the domain of each address in the From header
// fields whose values are given, one value per field, in order: the author
// domains of RFC 7489 §3.1, in the form ASCIIDomain gives (A-labels, lower
// case, RFC 8616 §4).
//
// Each value must be a mailbox-list of RFC 5322 §3.4 (RFC 6532 allows
// UTF-8) without the obsolete forms of §4.4, read the same way by this
// package's strict reader and by net/mail: no comment or space inside an
// address ("ceo@(x)victim.example", "victim .example"), no route
// ("<@a:ceo@victim.example>"), no group, no empty list element, no final
// dot after the domain. It fails with ErrNoFrom when there is no field,
// ErrFromInvalid when a value does not read so or a domain does not convert
// to A-labels, and ErrFromNoDomain for an address whose domain is a
// literal or not fully qualified. Several fields or addresses are returned
// as they are: RFC 5322 §3.6 allows only one field, and the caller decides
// what several mean.
func AuthorDomains(from []string) ([]string, error) {
	if len(from) == 0 {
		return nil, ErrNoFrom
	}
	var domains []string
	for _, v := range from {
		raw, err := parseMailboxList(v)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %v", ErrFromInvalid, truncate(v, 100), err)
		}
		// net/mail must read the same addresses: a header two readers see
		// differently is how a forged author gets past one of them.
		addrs, err := addressParser.ParseList(v)
		if err != nil || len(addrs) != len(raw) {
			return nil, fmt.Errorf("%w: %q: read differently by net/mail (%v)", ErrFromInvalid, truncate(v, 100), err)
		}
		for i, d := range raw {
			_, other, _ := splitAddress(addrs[i].Address)
			if other != d.domain {
				return nil, fmt.Errorf("%w: %q: read differently by net/mail", ErrFromInvalid, truncate(v, 100))
			}
			a, err := authorDomain(d)
			if err != nil {
				return nil, err
			}
			domains = append(domains, a)
		}
	}
	return domains, nil
}

// authorDomain converts the domain of a From address to its A-label form.
func authorDomain(m mailbox) (string, error) {
	if m.literal {
		return "", fmt.Errorf("%w: %s is an address literal", ErrFromNoDomain, truncate(m.domain, 100))
	}
	a, err := toASCII(m.domain)
	switch {
	case err != nil:
		return "", fmt.Errorf("%w: %w", ErrFromInvalid, err)
	case strings.HasSuffix(a, "."):
		// "victim。example。" maps to a final dot, which the ASCII
		// spelling of the same address may not have.
		return "", fmt.Errorf("%w: %q ends with a dot", ErrFromInvalid, truncate(m.domain, 100))
	case !isDomainName(a):
		return "", fmt.Errorf("%w: %q is not a fully qualified domain name", ErrFromNoDomain, truncate(m.domain, 100))
	}
	return a, nil
}

// truncate shortens s to at most n bytes for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// mailbox is what the strict reader keeps of one address: its domain as
// written, brackets included for an address literal ("[192.0.2.1]").
type mailbox struct {
	domain  string
	literal bool
}

// parseMailboxList reads a From value strictly:
//
//	mailbox-list = mailbox *("," mailbox)
//	mailbox      = [CFWS] (name-addr / addr-spec) [CFWS]
//	name-addr    = [phrase] "<" addr-spec ">"
//	phrase       = 1*(atom / quoted-string / "." / CFWS)
//	addr-spec    = (dot-atom-text / quoted-string) "@" (dot-atom-text / domain-literal)
//
// which is RFC 5322 §3.4 with nothing between the parts of an addr-spec,
// nothing but the address inside the angle brackets, and of §4.4 only the
// "." in a display name ("John Q. Public"), which is common and changes no
// address. atext includes UTF-8 (RFC 6532 §3.2).
func parseMailboxList(s string) ([]mailbox, error) {
	p := &fromReader{s: s}
	var list []mailbox
	for {
		m, err := p.mailbox()
		if err != nil {
			return nil, err
		}
		list = append(list, m)
		if p.done() {
			return list, nil
		}
		if !p.consume(',') {
			return nil, fmt.Errorf("unexpected %q after an address", p.rest())
		}
	}
}

// fromReader reads a From value byte by byte.
type fromReader struct {
	s string
	i int
}

func (p *fromReader) done() bool { return p.i >= len(p.s) }

func (p *fromReader) peek() byte {
	if p.done() {
		return 0
	}
	return p.s[p.i]
}

func (p *fromReader) consume(b byte) bool {
	if p.peek() == b && !p.done() {
		p.i++
		return true
	}
	return false
}

func (p *fromReader) rest() string { return truncate(p.s[p.i:], 20) }

// mailbox reads one mailbox and the CFWS around it.
func (p *fromReader) mailbox() (mailbox, error) {
	if err := p.cfws(); err != nil {
		return mailbox{}, err
	}
	start := p.i
	// An addr-spec starts with a local part directly followed by "@".
	if p.peek() != '<' {
		if _, ok := p.localPart(); ok && p.peek() == '@' {
			p.i++
			m, err := p.domain()
			if err != nil {
				return m, err
			}
			return m, p.cfws()
		}
		p.i = start
		if err := p.phrase(); err != nil {
			return mailbox{}, err
		}
	}
	if !p.consume('<') {
		return mailbox{}, fmt.Errorf("expected an address at %q", p.rest())
	}
	if _, ok := p.localPart(); !ok || !p.consume('@') {
		return mailbox{}, fmt.Errorf("expected local-part@domain at %q", p.rest())
	}
	m, err := p.domain()
	if err != nil {
		return m, err
	}
	if !p.consume('>') {
		return mailbox{}, fmt.Errorf("expected '>' at %q", p.rest())
	}
	return m, p.cfws()
}

// phrase reads a display name up to the "<" of the address.
func (p *fromReader) phrase() error {
	words := 0
	for {
		switch {
		case p.done():
			return errors.New("display name without an address")
		case p.peek() == '<':
			if words == 0 {
				return errors.New("empty display name")
			}
			return nil
		case p.peek() == '"':
			if _, ok := p.quoted(); !ok {
				return errors.New("unclosed quoted string")
			}
		case p.peek() == '.':
			p.i++
		case isAtext(p.peek()):
			p.atom()
		case isCFWSStart(p.peek()):
			if err := p.cfws(); err != nil {
				return err
			}
			continue
		default:
			return fmt.Errorf("unexpected %q in a display name", p.rest())
		}
		words++
	}
}

// localPart reads a dot-atom-text or quoted-string.
func (p *fromReader) localPart() (string, bool) {
	if p.peek() == '"' {
		return p.quoted()
	}
	return p.dotAtom()
}

// domain reads the domain of an addr-spec: a dot-atom-text or a
// domain-literal.
func (p *fromReader) domain() (mailbox, error) {
	if p.consume('[') {
		start := p.i - 1
		for !p.done() && p.peek() != ']' && p.peek() != '[' && p.peek() != '\\' && p.peek() > ' ' {
			p.i++
		}
		if !p.consume(']') {
			return mailbox{}, errors.New("unclosed domain literal")
		}
		return mailbox{domain: p.s[start:p.i], literal: true}, nil
	}
	d, ok := p.dotAtom()
	if !ok {
		return mailbox{}, fmt.Errorf("expected a domain at %q", p.rest())
	}
	return mailbox{domain: d}, nil
}

// atom reads 1*atext.
func (p *fromReader) atom() string {
	start := p.i
	for !p.done() && isAtext(p.peek()) {
		p.i++
	}
	return p.s[start:p.i]
}

// dotAtom reads dot-atom-text: atoms joined by single dots.
func (p *fromReader) dotAtom() (string, bool) {
	start := p.i
	for {
		if p.atom() == "" {
			p.i = start
			return "", false
		}
		if p.peek() != '.' {
			return p.s[start:p.i], true
		}
		p.i++
	}
}

// quoted reads a quoted-string, quoted-pairs and white space included.
func (p *fromReader) quoted() (string, bool) {
	start := p.i
	p.i++ // the opening quote
	for !p.done() {
		switch c := p.peek(); {
		case c == '"':
			p.i++
			return p.s[start:p.i], true
		case c == '\\':
			p.i += 2
		case c < ' ' && c != '\t':
			p.i = start
			return "", false
		default:
			p.i++
		}
	}
	p.i = start
	return "", false
}

// cfws skips white space and comments, nested or not (RFC 5322 §3.2.2).
func (p *fromReader) cfws() error {
	depth := 0
	for !p.done() {
		switch c := p.peek(); {
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case c == '\\' && depth > 0:
			p.i++
		case depth > 0, c == ' ', c == '\t', c == '\r', c == '\n':
		default:
			return nil
		}
		p.i++
	}
	if depth > 0 {
		return errors.New("unclosed comment")
	}
	return nil
}

func isCFWSStart(c byte) bool {
	return c == '(' || c == ' ' || c == '\t' || c == '\r' || c == '\n'
}

// isAtext reports whether c may be in an atom (RFC 5322 §3.2.3), UTF-8
// included (RFC 6532 §3.2).
func isAtext(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c >= 0x80:
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}
