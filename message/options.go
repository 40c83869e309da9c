package message

// The defaults of the limits in Options.
const (
	// DefaultMaxTextBytes bounds each of Message.Text and Message.HTML.
	DefaultMaxTextBytes = 1 << 20
	// DefaultMaxHeaderBytes bounds each header, the message's and each
	// part's: far above real headers (tens of kilobytes at most; Postfix
	// cuts headers at 100 KiB by default).
	DefaultMaxHeaderBytes = 128 << 10
	// DefaultMaxParts bounds the number of parts of a message.
	DefaultMaxParts = 1000
	// DefaultMaxDepth bounds how many multiparts nest. Mail clients make
	// three or four levels (mixed, alternative, related).
	DefaultMaxDepth = 16
)

// headerFieldCost is what each field of the message's header counts
// against MaxHeaderBytes on top of its length: the memory a field takes
// in a mail.Header beyond its text, so that a header of many tiny fields
// cannot take more memory than a header of a few long ones.
const headerFieldCost = 128

// Options are the settings of ParseWithOptions. A nil *Options, as the
// zero Options, means the defaults. For each limit, zero means its
// default and a negative value means no limit.
type Options struct {
	// Attachment, if set, is called for each attachment with its content,
	// in the order of the message, while Parse reads it. Without it the
	// contents are read, counted and discarded.
	Attachment AttachmentFunc

	// MaxTextBytes bounds each of Message.Text and Message.HTML, in bytes
	// of UTF-8; a longer body is cut at a character boundary and
	// TextTruncated or HTMLTruncated is set. Default DefaultMaxTextBytes
	// (1 MiB).
	MaxTextBytes int64

	// MaxHeaderBytes bounds each header: the message's, where each field
	// also counts 128 bytes for its keeping in memory, and each part's,
	// give or take the 8 KiB that multipart readers read ahead. Fields
	// of the message's header beyond it are left out and reported with
	// ErrHeaderTooLong; a part whose header is too long ends its
	// multipart. Default DefaultMaxHeaderBytes (128 KiB).
	MaxHeaderBytes int

	// MaxParts bounds the number of parts, counted as IMAP numbers them
	// (every part of every multipart, RFC 3501 §6.4.5). Parse stops at the
	// part beyond it and reports ErrTooManyParts. Default DefaultMaxParts
	// (1000).
	MaxParts int

	// MaxDepth bounds how many multiparts may nest. A multipart nested
	// deeper is not opened: it is listed as one attachment whose content
	// is its undecoded body, and reported with ErrTooDeep. Default
	// DefaultMaxDepth (16).
	MaxDepth int
}

// limits are the limits of an Options with the defaults applied; a
// negative value means none.
type limits struct {
	text   int64
	header int
	parts  int
	depth  int
}

func (o *Options) limits() limits {
	var opts Options
	if o != nil {
		opts = *o
	}
	return limits{
		text:   orDefault(opts.MaxTextBytes, DefaultMaxTextBytes),
		header: orDefault(opts.MaxHeaderBytes, DefaultMaxHeaderBytes),
		parts:  orDefault(opts.MaxParts, DefaultMaxParts),
		depth:  orDefault(opts.MaxDepth, DefaultMaxDepth),
	}
}

func orDefault[T int | int64](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return -1
	}
	return v
}
