package tlsrpt

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"path"
	"strings"

	"github.com/emersion/go-message"
)

// ErrNoReport is the error, wrapped, of FromMessage for a message that
// holds no TLS-RPT report.
var ErrNoReport = errors.New("tlsrpt: no report in the message")

// Limits of the messages FromMessage reads.
const (
	// maxDepth bounds how deep multiparts nest; report mail has one level.
	maxDepth = 8
	// maxParts bounds how many parts FromMessage looks at.
	maxParts = 100
)

// The media types of a report sent by mail (RFC 8460 §5.3, §6.4, §6.5).
const (
	mediaGzip = "application/tlsrpt+gzip"
	mediaJSON = "application/tlsrpt+json"
)

// FromMessage finds the report in a report message (RFC 8460 §5.3) and
// parses it with the default limits. See FromMessageWithOptions.
func FromMessage(r io.Reader) (*Report, error) { return FromMessageWithOptions(r, nil) }

// FromMessageWithOptions reads a whole mail message, such as the report
// mail Google and Microsoft send to a domain's rua address: a
// multipart/report with report-type=tlsrpt (RFC 8460 §5.3) whose
// attachment, application/tlsrpt+gzip or application/tlsrpt+json, is the
// report. It parses the first such part, at any depth, with Parse and
// opts. Inside a multipart/report with report-type=tlsrpt, a part of type
// application/gzip, application/json or application/octet-stream whose
// file name ends in .json or .json.gz is taken too, as some senders label
// the report so. The whole message is bounded by 4 times opts.MaxInput
// (allowing for base64 and other parts).
//
// A message without a report gives an error wrapping ErrNoReport; a
// report that does not parse gives Parse's error.
func FromMessageWithOptions(r io.Reader, opts *Options) (*Report, error) {
	limit := opts.maxInput()
	if limit > 0 {
		limit *= 4
	}
	lr := &limitReader{r: r, n: limit, err: func() error {
		return fmt.Errorf("tlsrpt: message is over %d bytes: %w", limit, ErrTooLarge)
	}}
	e, err := message.Read(lr)
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return nil, fmt.Errorf("tlsrpt: reading the message: %w", err)
	}
	f := finder{opts: opts}
	rep, err := f.walk(e, 0, false)
	if err != nil {
		return nil, err
	}
	if rep == nil {
		return nil, fmt.Errorf("%w: no application/tlsrpt+gzip or application/tlsrpt+json part among %d", ErrNoReport, f.parts)
	}
	return rep, nil
}

// finder walks the parts of a message, looking for the report.
type finder struct {
	opts  *Options
	parts int
}

// walk returns the report in e, nil if it has none. inReport is true
// inside a multipart/report with report-type=tlsrpt.
func (f *finder) walk(e *message.Entity, depth int, inReport bool) (*Report, error) {
	f.parts++
	if f.parts > maxParts {
		return nil, fmt.Errorf("%w: more than %d parts", ErrNoReport, maxParts)
	}
	mediaType, params, _ := e.Header.ContentType()
	if mr := e.MultipartReader(); mr != nil {
		if depth >= maxDepth {
			return nil, fmt.Errorf("%w: multiparts nested more than %d deep", ErrNoReport, maxDepth)
		}
		inReport = inReport || mediaType == "multipart/report" && strings.EqualFold(params["report-type"], "tlsrpt")
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				return nil, nil
			}
			if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
				return nil, fmt.Errorf("tlsrpt: reading the message: %w", err)
			}
			rep, err := f.walk(part, depth+1, inReport)
			if rep != nil || err != nil {
				return rep, err
			}
		}
	}
	if !isReportPart(mediaType, filename(e), inReport) {
		return nil, nil
	}
	return ParseWithOptions(e.Body, f.opts)
}

// isReportPart reports whether a part of mediaType with file name name
// holds the report.
func isReportPart(mediaType, name string, inReport bool) bool {
	switch mediaType {
	case mediaGzip, mediaJSON:
		return true
	case "application/gzip", "application/x-gzip", "application/json", "application/octet-stream":
		name = strings.ToLower(name)
		return inReport && (strings.HasSuffix(name, ".json") || strings.HasSuffix(name, ".json.gz"))
	}
	return false
}

// filename returns the file name of a part, from Content-Disposition or
// else from Content-Type's name parameter, without any directory.
func filename(e *message.Entity) string {
	var name string
	if _, params, err := mime.ParseMediaType(e.Header.Get("Content-Disposition")); err == nil {
		name = params["filename"]
	}
	if name == "" {
		_, params, _ := e.Header.ContentType()
		name = params["name"]
	}
	return path.Base(strings.ReplaceAll(name, "\\", "/"))
}
