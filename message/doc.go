// Package message turns a received message into what applications use:
// the decoded header fields, the text and HTML bodies in UTF-8, and the
// attachments, whose contents are streamed, never held in memory. It is
// built on github.com/emersion/go-message (charsets, encoded words,
// address lists) and the standard library (mime/multipart, net/mail).
//
// In a Data handler of smtpd:
//
//	func data(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
//		m, err := message.ParseWithOptions(r, &message.Options{
//			Attachment: func(a *message.Attachment, content io.Reader) error {
//				return save(ctx, a.Filename, content) // or ignore it: return nil
//			},
//		})
//		var perr *message.ParseError
//		if err != nil && !errors.As(err, &perr) {
//			return err // r failed, or save did
//		}
//		log.Printf("%s from %s: %d bytes of text, %d attachments (problems: %v)",
//			m.Subject, m.From.Address, len(m.Text), len(m.Attachments), err)
//		...
//	}
//
// # What is read
//
// The header (RFC 5322 §3.6): From, To, Cc, Reply-To as mailboxes with
// their display names decoded (RFC 2047), Subject decoded, Date as a
// time.Time, Message-ID, In-Reply-To and References without angle
// brackets. The whole header stays in Message.Header for the rest.
//
// The body is walked as a mail client does: every multipart is opened
// (mixed, alternative, related as RFC 2387 has it, signed, report, ...;
// the parts of a digest default to message/rfc822, RFC 2046 §5.1.5) and
// each leaf part is one of three things. The first text/plain part that
// is not an attachment (no "attachment" disposition, no file name)
// becomes Message.Text; the first such text/html part becomes
// Message.HTML; every other leaf is an Attachment, in the order of the
// message: files, inline images with their Content-ID, further text
// parts (a mailing list's footer, the text of a multipart/report),
// signatures. A forwarded message (message/rfc822, message/global) is one
// attachment named after its subject; it is not opened, as mail clients
// show it as one item: parse its content again to read it. Text and HTML
// are decoded from their transfer encoding (quoted-printable, base64:
// RFC 2045 §6) and their charset (any that go-message's charset package
// knows; US-ASCII when none is given, RFC 2045 §5.2) into valid UTF-8,
// with their line ends as sent. The charset of an HTML <meta> tag is not
// read.
//
// # Why a callback
//
// A message comes as a stream, read once, and an attachment's content
// exists only while the reader stands on it. go-message's mail.Reader and
// mime/multipart.Reader hand it out as pull iterators (NextPart, whose
// body must be read before the next call), which leaves the caller to walk
// nested multiparts, choose the bodies, decode, bound and account for
// errors: the seventy lines every Data handler used to carry. net/http's
// ParseMultipartForm holds parts in memory or in temporary files, a
// storage policy that belongs to the application. Here Parse does the
// walk and calls Options.Attachment with each attachment's description
// and its decoded content, valid until the function returns, as
// fs.WalkDir hands its WalkDirFunc each entry and net/http a Handler its
// request body. What the function does not read is counted and
// discarded, so Attachment.Size is always the decoded size, and the
// Message that Parse returns is plain data, complete.
//
// # Limits
//
// Memory does not grow with the size of the message: Parse holds at most
// the Text and the HTML (MaxTextBytes each, 1 MiB by default), one header
// (MaxHeaderBytes, 128 KiB), a few buffers of 4 to 32 KiB per level of
// nesting, and a small record per attachment, whatever the size of the
// message or of its attachments: TestMemoryBounded holds the live heap
// under 4 MiB of growth on 25 MiB messages, real and hostile, and
// BenchmarkParse shows the same allocations for 1 MiB and 25 MiB. Work is
// linear in the size of the message. MaxParts (1000) and MaxDepth (16) bound the parts and the
// nesting a hostile message can make. As everywhere in ownmx, zero means
// the default and a negative value means no limit.
//
// # Malformed mail
//
// Parse never gives up on a message: what can be read is read, and a
// *ParseError lists each Problem with its part's section number (as IMAP
// numbers parts, RFC 3501 §6.4.5) and what was left out: a damaged
// base64 or quoted-printable encoding (the content up to the damage is
// kept), an unknown charset (the text is kept with its non-UTF-8 bytes
// replaced), a missing closing boundary, a malformed header line (left
// out; the header goes on), a part header that cannot be read (its
// multipart ends there), NUL bytes (removed from text), a date that
// cannot be parsed (Date is zero), and each limit reached.
//
// The RFCs: RFC 5322 (message format), RFC 2045, RFC 2046, RFC 2047,
// RFC 2049 (MIME), RFC 2183 (Content-Disposition), RFC 2231 (parameter
// value continuations and charsets), RFC 2387 (multipart/related),
// RFC 2392 (cid: URLs), RFC 6532 (UTF-8 headers).
package message
