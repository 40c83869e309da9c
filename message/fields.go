package message

import (
	"fmt"
	"mime"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/mail"
)

// wordDecoder decodes RFC 2047 encoded words in any charset that
// go-message's charset package knows.
var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// readFields fills the header fields of p.m from p.m.Header.
func (p *parser) readFields() {
	h := &p.m.Header
	if from := p.addresses("From"); len(from) > 0 {
		p.m.From = from[0]
	}
	p.m.To = p.addresses("To")
	p.m.Cc = p.addresses("Cc")
	p.m.ReplyTo = p.addresses("Reply-To")
	p.m.Subject = p.headerText("Subject")

	if v := h.Get("Date"); v != "" {
		d, err := h.Date()
		if err != nil {
			p.problem("", fmt.Errorf("header field Date %q: %v", quoteCut([]byte(v)), err))
		} else {
			p.m.Date = d
		}
	}
	if ids := p.msgIDs("Message-Id"); len(ids) > 0 {
		p.m.MessageID = ids[0]
	}
	p.m.InReplyTo = p.msgIDs("In-Reply-To")
	p.m.References = p.msgIDs("References")
}

// headerText returns the unstructured field key (RFC 5322 §3.6.5) with its
// encoded words (RFC 2047) decoded, as valid UTF-8.
func (p *parser) headerText(key string) string {
	v := p.m.Header.Get(key)
	if v == "" {
		return ""
	}
	s, err := wordDecoder.DecodeHeader(v)
	if err != nil {
		p.problem("", fmt.Errorf("header field %s: %w", key, errorf(ErrUnknownCharset, ": %v; left encoded", err)))
		s = v
	}
	return p.clean("", "header field "+key, s)
}

// clean returns s as valid UTF-8 without control characters other than
// tab, reporting in part what was replaced or removed.
func (p *parser) clean(part, what, s string) string {
	if !utf8.ValidString(s) {
		p.problem(part, fmt.Errorf("%s is not valid UTF-8: bytes replaced by U+FFFD", what))
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexFunc(s, isControl) >= 0 {
		p.problem(part, fmt.Errorf("%s has control characters: removed", what))
		s = strings.Map(func(r rune) rune {
			if isControl(r) {
				return -1
			}
			return r
		}, s)
	}
	return s
}

func isControl(r rune) bool { return r != '\t' && unicode.IsControl(r) }

// addresses returns the mailboxes of the address fields key (RFC 5322
// §3.4); all fields of that name are read, though RFC 5322 §3.6 allows
// one. An address net/mail cannot read is salvaged when it has an
// addr-spec between angle brackets or a word with an "@", and left out
// otherwise; either way it is reported.
func (p *parser) addresses(key string) []mail.Address {
	var out []mail.Address
	for _, v := range p.m.Header.Values(key) {
		list, err := mail.ParseAddressList(v)
		if err == nil {
			for _, a := range list {
				out = append(out, p.address(key, a.Name, a.Address))
			}
			continue
		}
		var bad []string
		for _, item := range splitAddressList(v) {
			a, err := mail.ParseAddress(item)
			if err == nil {
				out = append(out, p.address(key, a.Name, a.Address))
				continue
			}
			if name, addr, ok := salvageAddress(item); ok {
				out = append(out, p.address(key, name, addr))
			}
			bad = append(bad, strings.TrimSpace(item))
		}
		if len(bad) > 0 {
			p.problem("", fmt.Errorf("header field %s: cannot read %q (read as well as possible): %v", key, quoteCut([]byte(strings.Join(bad, ", "))), err))
		}
	}
	return out
}

func (p *parser) address(key, name, addr string) mail.Address {
	return mail.Address{
		Name:    p.clean("", "a display name in header field "+key, name),
		Address: p.clean("", "an address in header field "+key, addr),
	}
}

// splitAddressList splits an address list at its commas, those outside
// quoted strings, comments and angle brackets (RFC 5322 §3.4), and
// outside groups' lists.
func splitAddressList(v string) []string {
	var (
		items          []string
		start, comment int
		quoted, angle  bool
	)
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && (quoted || comment > 0):
			i++
		case quoted:
			quoted = c != '"'
		case c == '(':
			comment++
		case comment > 0:
			if c == ')' {
				comment--
			}
		case c == '"':
			quoted = true
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case (c == ',' || c == ';' || c == ':') && !angle:
			if c == ':' { // a group's name: drop it
				start = i + 1
				continue
			}
			items = append(items, v[start:i])
			start = i + 1
		}
	}
	items = append(items, v[min(start, len(v)):])
	out := items[:0]
	for _, it := range items {
		if strings.TrimSpace(it) != "" {
			out = append(out, it)
		}
	}
	return out
}

// salvageAddress finds an address in an item net/mail rejected: the
// addr-spec between its last angle brackets, else a word with an "@".
func salvageAddress(item string) (name, addr string, ok bool) {
	if i := strings.LastIndexByte(item, '<'); i >= 0 {
		if j := strings.IndexByte(item[i:], '>'); j > 1 {
			addr = strings.TrimSpace(item[i+1 : i+j])
			name = strings.Trim(strings.TrimSpace(item[:i]), `"`)
			if decoded, err := wordDecoder.DecodeHeader(name); err == nil {
				name = decoded
			}
			return name, addr, strings.Contains(addr, "@")
		}
	}
	for _, w := range strings.Fields(item) {
		w = strings.Trim(w, `"'<>(),;:`)
		if strings.Contains(w, "@") {
			return "", w, true
		}
	}
	return "", "", false
}

// msgIDs returns the message identifiers of the field key (RFC 5322
// §3.6.4) without their angle brackets. It reads them as mail clients do:
// whatever stands between "<" and ">", so that the comments and the
// malformed identifiers common in In-Reply-To and References lose nothing
// else; a value without brackets is taken whole if it is one word.
func (p *parser) msgIDs(key string) []string {
	v := p.m.Header.Get(key)
	if strings.TrimSpace(v) == "" {
		return nil
	}
	var ids []string
	rest := v
	for {
		i := strings.IndexByte(rest, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i+1:], '>')
		if j < 0 {
			p.problem("", fmt.Errorf("header field %s: %q has a \"<\" without \">\"", key, quoteCut([]byte(v))))
			return ids
		}
		if id := strings.TrimSpace(rest[i+1 : i+1+j]); id != "" {
			ids = append(ids, p.clean("", "header field "+key, id))
		}
		rest = rest[i+1+j+1:]
	}
	if len(ids) == 0 && !strings.Contains(v, "<") {
		if f := strings.Fields(v); len(f) == 1 {
			return []string{p.clean("", "header field "+key, f[0])}
		}
	}
	if len(ids) == 0 {
		p.problem("", fmt.Errorf("header field %s: no message identifier in %q", key, quoteCut([]byte(v))))
	}
	return ids
}
