package webhook

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ownmx/ownmx/queue"
)

// The headers that carry the envelope in the RFC822 Format. Addresses are
// in angle brackets, "<>" for the null sender; a header with a list has one
// line per item.
const (
	// HeaderEnvelopeID is the message's ID in the queue (Data.ID).
	HeaderEnvelopeID = "Envelope-Id"
	// HeaderEnvelopeSMTPID is the SMTP transaction's ID.
	HeaderEnvelopeSMTPID = "Envelope-Smtp-Id"
	// HeaderEnvelopeReceived is when the message was received, RFC 3339.
	HeaderEnvelopeReceived = "Envelope-Received"
	// HeaderEnvelopeMailFrom is the MAIL FROM address.
	HeaderEnvelopeMailFrom = "Envelope-Mail-From"
	// HeaderEnvelopeRcptTo is a recipient this webhook is for, one line
	// each (the route's recipients).
	HeaderEnvelopeRcptTo = "Envelope-Rcpt-To"
	// HeaderEnvelopeAllRcptTo is an accepted recipient of the
	// transaction, one line each.
	HeaderEnvelopeAllRcptTo = "Envelope-All-Rcpt-To"
	// HeaderEnvelopeClientIP is the SMTP client's address.
	HeaderEnvelopeClientIP = "Envelope-Client-Ip"
	// HeaderEnvelopeHelo is the name the client gave in EHLO or HELO.
	HeaderEnvelopeHelo = "Envelope-Helo"
	// HeaderEnvelopeTLS is the TLS version and cipher suite, such as
	// "TLS 1.3 TLS_AES_128_GCM_SHA256"; absent without STARTTLS.
	HeaderEnvelopeTLS = "Envelope-Tls"
	// HeaderEnvelopeSMTPUTF8 is "true" when MAIL FROM carried SMTPUTF8,
	// else "false".
	HeaderEnvelopeSMTPUTF8 = "Envelope-Smtputf8"
	// HeaderEnvelopeQuarantine is "true" when a filter wants the message
	// in a Junk folder, else "false".
	HeaderEnvelopeQuarantine = "Envelope-Quarantine"
	// HeaderEnvelopeVerdict is the authentication verdict (auth.Verdict:
	// "deliver", "quarantine", "reject"); absent when no check ran.
	HeaderEnvelopeVerdict = "Envelope-Verdict"
	// HeaderEnvelopeAuth is the "auth" object of the JSON payload, as one
	// line of JSON; absent when no check ran.
	HeaderEnvelopeAuth = "Envelope-Auth"
)

// rfc822Body returns the message as received and the header that carries
// its envelope.
func rfc822Body(m *queue.Message, rcpt []string) (*io.SectionReader, http.Header, error) {
	// The message itself, read where it lies (the queue's file) for the
	// signature and again for the request: never whole in memory.
	body := io.NewSectionReader(m.Body, 0, m.Body.Size())
	env := &m.Envelope
	h := http.Header{}
	h.Set("Content-Type", "message/rfc822")
	set := func(name, value string) { h.Add(name, headerValue(value)) }
	set(HeaderEnvelopeID, m.ID)
	set(HeaderEnvelopeSMTPID, env.ID)
	set(HeaderEnvelopeReceived, env.Received.Format(time.RFC3339Nano))
	set(HeaderEnvelopeMailFrom, "<"+env.From+">")
	for _, r := range rcpt {
		set(HeaderEnvelopeRcptTo, "<"+r+">")
	}
	for _, r := range env.Rcpt {
		set(HeaderEnvelopeAllRcptTo, "<"+r+">")
	}
	set(HeaderEnvelopeClientIP, env.ClientIP)
	set(HeaderEnvelopeHelo, env.Helo)
	if env.TLS != nil {
		set(HeaderEnvelopeTLS, env.TLS.Version+" "+env.TLS.Cipher)
	}
	set(HeaderEnvelopeSMTPUTF8, strconv.FormatBool(env.SMTPUTF8))
	set(HeaderEnvelopeQuarantine, strconv.FormatBool(env.Quarantine))
	if env.Auth != nil {
		set(HeaderEnvelopeVerdict, string(env.Auth.Verdict()))
		js, err := json.Marshal(env.Auth)
		if err != nil {
			return nil, nil, fmt.Errorf("webhook: encoding the auth results of message %s: %w", m.ID, err)
		}
		set(HeaderEnvelopeAuth, string(js))
	}
	return body, h, nil
}

// headerValue returns s with the characters an HTTP field value cannot
// hold (RFC 9110 §5.5: controls other than tab) replaced by spaces. SMTP
// gives none, but a bad value would fail every try.
func headerValue(s string) string {
	return strings.Map(func(r rune) rune {
		if (r < 0x20 && r != '\t') || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
