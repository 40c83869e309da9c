package forward

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/emersion/go-message/textproto"
	"github.com/ownmx/ownmx/auth"
	"github.com/ownmx/ownmx/internal/ascii"
)

// head is what forwarding needs of a message's header.
type head struct {
	raw         []byte   // the header, blank line included
	received    int      // how many Received fields
	deliveredTo []string // the Delivered-To fields' addresses
	report      bool     // a delivery status notification (RFC 3464)
}

// readHead reads and parses the header of msg, at most
// auth.DefaultMaxHeaderBytes of it.
func readHead(msg *io.SectionReader) (*head, error) {
	br := bufio.NewReader(io.LimitReader(io.NewSectionReader(msg, 0, msg.Size()), auth.DefaultMaxHeaderBytes))
	var raw bytes.Buffer
	for {
		line, err := br.ReadSlice('\n')
		raw.Write(line)
		if len(bytes.TrimRight(line, "\r\n")) == 0 && (len(line) > 0 || err == io.EOF) {
			break // the blank line, or the end of a message without a body
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == io.EOF {
			if int64(raw.Len()) >= auth.DefaultMaxHeaderBytes {
				return nil, fmt.Errorf("header longer than %d bytes", auth.DefaultMaxHeaderBytes)
			}
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the header: %w", err)
		}
	}
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw.Bytes())))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading the header: %w", err)
	}
	out := &head{raw: raw.Bytes()}
	for f := h.Fields(); f.Next(); {
		switch strings.ToLower(f.Key()) {
		case "received":
			out.received++
		case "delivered-to":
			out.deliveredTo = append(out.deliveredTo, bareAddress(f.Value()))
		case "content-type":
			t, params, err := mime.ParseMediaType(f.Value())
			if err == nil && t == "multipart/report" && strings.EqualFold(params["report-type"], "delivery-status") {
				out.report = true
			}
		}
	}
	return out, nil
}

// loop says why a message delivered to rcpts has looped, or "": it carries
// a Delivered-To field for one of them, or more than max Received fields.
func (h *head) loop(rcpts []string, max int) string {
	if h.received > max {
		return fmt.Sprintf("%d Received header fields, more than %d", h.received, max)
	}
	for _, rcpt := range rcpts {
		for _, d := range h.deliveredTo {
			if ascii.EqualFold(d, rcpt) {
				return fmt.Sprintf("the message was delivered to %s before (Delivered-To)", rcpt)
			}
		}
	}
	return ""
}

// bareAddress returns a Delivered-To field's address without spaces or
// angle brackets.
func bareAddress(v string) string {
	v = strings.TrimSpace(v)
	v = strings.TrimPrefix(v, "<")
	return strings.TrimSuffix(v, ">")
}
