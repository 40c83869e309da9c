package message

import (
	"io"
	"time"

	"github.com/emersion/go-message/mail"
)

// A Message is what Parse read from a message: the header fields
// applications use, decoded, the text and HTML bodies in UTF-8, and a
// record of each attachment. The strings it extracts are valid UTF-8; a
// field that is missing or could not be read is empty (and the error from
// Parse says why, for the latter).
type Message struct {
	// Header holds the message's header as read, in order, for the fields
	// this struct does not extract (List-Id, Auto-Submitted, the
	// Received trace...). Its values are raw: encoded words (RFC 2047)
	// are not decoded; use its Text, AddressList and MsgIDList methods.
	Header mail.Header

	// From is the first mailbox of the From field (RFC 5322 §3.6.2), its
	// display name decoded (RFC 2047).
	From mail.Address
	// To, Cc and ReplyTo are the mailboxes of the To, Cc and Reply-To
	// fields (RFC 5322 §3.6.2, §3.6.3), groups flattened (RFC 5322
	// §3.4). An address that cannot be read is left out and reported.
	To, Cc, ReplyTo []mail.Address
	// Subject is the Subject field with its encoded words decoded
	// (RFC 2047).
	Subject string
	// Date is the origination date (RFC 5322 §3.6.1), or the zero time
	// when the field is missing or cannot be parsed.
	Date time.Time
	// MessageID is the Message-ID (RFC 5322 §3.6.4) without its angle
	// brackets.
	MessageID string
	// InReplyTo and References are the message identifiers of those
	// fields (RFC 5322 §3.6.4), without angle brackets.
	InReplyTo, References []string

	// Text is the first text/plain part that is not an attachment,
	// decoded to UTF-8 and cut to Options.MaxTextBytes. Line ends are as
	// the message had them (CR LF on the wire).
	Text string
	// HTML is the first text/html part that is not an attachment, decoded
	// to UTF-8 and cut to Options.MaxTextBytes. References to inline
	// parts ("cid:...") name an Attachment's ContentID.
	HTML string
	// TextTruncated and HTMLTruncated report that Text or HTML was cut at
	// Options.MaxTextBytes; the rest of that part was read and discarded.
	TextTruncated, HTMLTruncated bool

	// Attachments lists every other leaf part, in the order of the
	// message: attachments, inline images, further text parts, forwarded
	// messages. Their contents go to Options.Attachment, never into
	// memory.
	Attachments []*Attachment
}

// An Attachment describes one part of a message that is not its Text or
// HTML.
type Attachment struct {
	// Part is the part's section number as IMAP numbers parts
	// (RFC 3501 §6.4.5): "2" is the message's second part, "2.1" the
	// first part inside it, "" the message's own body.
	Part string
	// Filename is the name the sender gave (the filename parameter of
	// Content-Disposition, RFC 2183 §2.3, else the name parameter of
	// Content-Type), with RFC 2231 and RFC 2047 encodings decoded and
	// reduced to a base name: no directory, no control characters, at
	// most 255 bytes. A forwarded message without a name is named after
	// its subject, with ".eml". It may be empty.
	Filename string
	// ContentType is the media type in lower case ("image/png",
	// "message/rfc822"), without parameters (RFC 2045 §5.1).
	ContentType string
	// Disposition is "attachment" or "inline" (RFC 2183 §2.1, §2.2). A
	// part without Content-Disposition is inline when it is text or
	// inside a multipart/related (RFC 2387), an attachment otherwise; an
	// unknown disposition counts as attachment (RFC 2183 §2.8).
	Disposition string
	// ContentID is the Content-ID (RFC 2045 §7) without angle brackets:
	// an HTML body shows the part where it says "cid:" + ContentID
	// (RFC 2392).
	ContentID string
	// Size is the size of the content in bytes, transfer encoding
	// decoded. It is set once the content has been read to its end,
	// after Options.Attachment returns.
	Size int64
}

// An AttachmentFunc receives each attachment while Parse reads the
// message: a describes the part (its Size is not known yet), content
// yields its bytes, transfer encoding decoded (RFC 2045 §6), charset left
// as is. content is valid only until the function returns; what it does
// not read is read and counted after it returns.
//
// Returning an error stops Parse, which returns that error, unless the
// error came from reading content (a damaged encoding, a message cut
// short): then it is reported as a Problem of that part and Parse goes
// on.
type AttachmentFunc func(a *Attachment, content io.Reader) error
