package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/ownmx/ownmx/auth"
	"github.com/ownmx/ownmx/message"
	"github.com/ownmx/ownmx/queue"
)

// EventType is the "type" of every JSON payload.
const EventType = "message.received"

// Payload is the JSON body of a webhook in the JSON Format, in the shape
// Standard Webhooks recommends (type, timestamp, data). A receiver in Go
// decodes the body into it after Verify. The package documentation shows
// an example; names are a published schema: fields may be added, none is
// renamed.
type Payload struct {
	// Type is EventType.
	Type string `json:"type"`
	// Timestamp is when the message was received (the event's time, not
	// the try's: that is webhook-timestamp).
	Timestamp time.Time `json:"timestamp"`
	// Data is the message.
	Data Data `json:"data"`
}

// Data is a received message, the "data" of a Payload.
type Data struct {
	// ID names the message in the queue (queue.Message.ID).
	ID string `json:"id"`
	// Received is when the message was accepted.
	Received time.Time `json:"received"`
	// Size is the message's size in bytes, as received.
	Size int64 `json:"size"`
	// Quarantine is true when a filter (a DMARC policy of quarantine)
	// wants the message in a Junk folder rather than an inbox.
	Quarantine bool `json:"quarantine"`
	// Envelope is the message's SMTP transaction.
	Envelope Envelope `json:"envelope"`
	// Auth holds the SPF, DKIM and DMARC results and the verdict, as
	// auth.Results.MarshalJSON writes them; null when no check ran.
	Auth *auth.Results `json:"auth"`
	// Message is the message parsed by package message.
	Message Message `json:"message"`
}

// Envelope is a message's SMTP transaction.
type Envelope struct {
	// MailFrom is the MAIL FROM address, "" for the null sender.
	MailFrom string `json:"mail_from"`
	// RcptTo holds the recipients this webhook is for (the route's).
	RcptTo []string `json:"rcpt_to"`
	// AllRcptTo holds every accepted recipient of the transaction.
	AllRcptTo []string `json:"all_rcpt_to"`
	// ClientIP is the SMTP client's address.
	ClientIP string `json:"client_ip"`
	// Helo is the name the client gave in EHLO or HELO.
	Helo string `json:"helo"`
	// TLS describes the connection's TLS layer; null without STARTTLS.
	TLS *queue.TLS `json:"tls"`
	// SMTPUTF8 is true when MAIL FROM carried SMTPUTF8 (RFC 6531).
	SMTPUTF8 bool `json:"smtputf8"`
	// SMTPID is the SMTP transaction's ID, as the server's log has it.
	SMTPID string `json:"smtp_id"`
}

// Message is what package message reads of a message: decoded header
// fields, text and HTML in UTF-8, and the attachments.
type Message struct {
	// From is the first mailbox of the From field; null when missing.
	From *Address `json:"from"`
	// To, Cc and ReplyTo are the mailboxes of those fields.
	To      []Address `json:"to"`
	Cc      []Address `json:"cc"`
	ReplyTo []Address `json:"reply_to"`
	// Subject is the Subject field, decoded.
	Subject string `json:"subject"`
	// Date is the Date field; null when missing or unreadable.
	Date *time.Time `json:"date"`
	// MessageID, InReplyTo and References are message identifiers
	// without angle brackets.
	MessageID  string   `json:"message_id"`
	InReplyTo  []string `json:"in_reply_to"`
	References []string `json:"references"`
	// Text and HTML are the bodies, in UTF-8, cut at 1 MiB each
	// (message.DefaultMaxTextBytes), which the Truncated fields report.
	Text          string `json:"text"`
	HTML          string `json:"html"`
	TextTruncated bool   `json:"text_truncated"`
	HTMLTruncated bool   `json:"html_truncated"`
	// Attachments lists every other part, in the order of the message.
	Attachments []Attachment `json:"attachments"`
	// Problems lists what could not be read in a malformed message (see
	// message.ParseError); the rest is here.
	Problems []string `json:"problems"`
}

// Address is a mailbox: a display name and an address.
type Address struct {
	Name    string `json:"name"`
	Address string `json:"address"`
}

// Attachment describes one part of a message that is not its text or
// HTML, with its content when it fits Endpoint.MaxAttachmentBytes.
type Attachment struct {
	// Part is the section number, as IMAP numbers parts ("2", "2.1").
	Part string `json:"part"`
	// Filename is the sender's file name, a base name; may be "".
	Filename string `json:"filename"`
	// ContentType is the media type in lower case, without parameters.
	ContentType string `json:"content_type"`
	// Disposition is "attachment" or "inline".
	Disposition string `json:"disposition"`
	// ContentID is the Content-ID without angle brackets, for "cid:"
	// references of the HTML.
	ContentID string `json:"content_id"`
	// Size is the content's size in bytes, transfer encoding decoded.
	Size int64 `json:"size"`
	// Content is the decoded content, base64 in JSON; absent when
	// Omitted or empty.
	Content []byte `json:"content,omitempty"`
	// Omitted is true when the content was left out: it did not fit in
	// what was left of Endpoint.MaxAttachmentBytes.
	Omitted bool `json:"omitted"`
}

// jsonBody returns the JSON payload of m for the recipients rcpt, and the
// message's parse problems as a *message.ParseError (also listed in the
// payload), or an error reading m.Body.
func jsonBody(m *queue.Message, rcpt []string, maxAttachment int64) ([]byte, error) {
	env := &m.Envelope
	p := Payload{
		Type:      EventType,
		Timestamp: env.Received,
		Data: Data{
			ID:         m.ID,
			Received:   env.Received,
			Size:       m.Body.Size(),
			Quarantine: env.Quarantine,
			Envelope: Envelope{
				MailFrom:  env.From,
				RcptTo:    nonNil(rcpt),
				AllRcptTo: nonNil(env.Rcpt),
				ClientIP:  env.ClientIP,
				Helo:      env.Helo,
				TLS:       env.TLS,
				SMTPUTF8:  env.SMTPUTF8,
				SMTPID:    env.ID,
			},
			Auth: env.Auth,
		},
	}
	msg, err := parseMessage(io.NewSectionReader(m.Body, 0, m.Body.Size()), maxAttachment)
	if err != nil {
		return nil, err
	}
	p.Data.Message = *msg
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&p); err != nil {
		return nil, fmt.Errorf("webhook: encoding message %s as JSON: %w", m.ID, err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// parseMessage reads r with package message into a Message, keeping the
// contents of attachments while they fit in budget bytes (in all; a
// negative budget means no limit). It fails only when r fails.
func parseMessage(r io.Reader, budget int64) (*Message, error) {
	type kept struct {
		content []byte
		omitted bool
	}
	contents := map[*message.Attachment]kept{}
	opts := &message.Options{Attachment: func(a *message.Attachment, content io.Reader) error {
		b, fits := readWithin(content, budget)
		if fits && budget >= 0 {
			budget -= int64(len(b))
		}
		contents[a] = kept{b, !fits}
		return nil
	}}
	parsed, err := message.ParseWithOptions(r, opts)
	var perr *message.ParseError
	if err != nil && !errors.As(err, &perr) {
		return nil, fmt.Errorf("webhook: reading the message: %w", err)
	}
	out := &Message{
		To:            addresses(parsed.To),
		Cc:            addresses(parsed.Cc),
		ReplyTo:       addresses(parsed.ReplyTo),
		Subject:       parsed.Subject,
		MessageID:     parsed.MessageID,
		InReplyTo:     nonNil(parsed.InReplyTo),
		References:    nonNil(parsed.References),
		Text:          parsed.Text,
		HTML:          parsed.HTML,
		TextTruncated: parsed.TextTruncated,
		HTMLTruncated: parsed.HTMLTruncated,
		Attachments:   make([]Attachment, 0, len(parsed.Attachments)),
		Problems:      []string{},
	}
	if parsed.From.Address != "" || parsed.From.Name != "" {
		out.From = &Address{Name: parsed.From.Name, Address: parsed.From.Address}
	}
	if !parsed.Date.IsZero() {
		out.Date = &parsed.Date
	}
	for _, a := range parsed.Attachments {
		k := contents[a]
		out.Attachments = append(out.Attachments, Attachment{
			Part: a.Part, Filename: a.Filename, ContentType: a.ContentType,
			Disposition: a.Disposition, ContentID: a.ContentID, Size: a.Size,
			Content: k.content, Omitted: k.omitted,
		})
	}
	if perr != nil {
		for _, p := range perr.Problems {
			out.Problems = append(out.Problems, p.Error())
		}
		if perr.Omitted > 0 {
			out.Problems = append(out.Problems, fmt.Sprintf("and %d more problems", perr.Omitted))
		}
	}
	return out, nil
}

// readWithin reads content whole and returns it with fits set if it is at
// most budget bytes long (any length for a negative budget). Otherwise it
// returns nil: the rest of content is left for message.Parse to count. A
// read error (a damaged encoding) keeps what was read, as Parse reports it.
func readWithin(content io.Reader, budget int64) (b []byte, fits bool) {
	if budget < 0 || budget == math.MaxInt64 {
		b, _ = io.ReadAll(content)
		return b, true
	}
	b, _ = io.ReadAll(io.LimitReader(content, budget+1))
	if int64(len(b)) > budget {
		return nil, false
	}
	return b, true
}

// addresses converts mailboxes to Addresses, never nil.
func addresses(list []mail.Address) []Address {
	out := make([]Address, 0, len(list))
	for _, a := range list {
		out = append(out, Address{Name: a.Name, Address: a.Address})
	}
	return out
}

// nonNil returns s, or an empty slice for nil, so that JSON has [] rather
// than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
