package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ownmx/ownmx/auth"
)

// Envelope is what a queued message keeps of its SMTP transaction, for the
// actions that run later: who sent it, to whom, from where, and what the
// authentication checks said. It is stored as JSON beside the message.
type Envelope struct {
	// ID is the SMTP transaction's ID (smtpd.Envelope.ID), for logs.
	ID string `json:"id"`
	// Received is when the message was accepted.
	Received time.Time `json:"received"`
	// From is the MAIL FROM address, "" for the null sender.
	From string `json:"mail_from"`
	// Rcpt holds every accepted recipient of the transaction.
	Rcpt []string `json:"rcpt_to"`
	// ClientIP is the SMTP client's address.
	ClientIP string `json:"client_ip"`
	// Helo is the name the client gave in EHLO or HELO.
	Helo string `json:"helo"`
	// TLS describes the connection's TLS layer, nil without STARTTLS.
	TLS *TLS `json:"tls"`
	// SMTPUTF8 is true when MAIL FROM carried SMTPUTF8 (RFC 6531).
	SMTPUTF8 bool `json:"smtputf8,omitempty"`
	// Quarantine is true when a filter (a DMARC policy of quarantine)
	// wants the message in a Junk folder rather than an inbox.
	Quarantine bool `json:"quarantine"`
	// Auth holds the SPF, DKIM and DMARC results, nil when no check ran.
	Auth *auth.Results `json:"auth"`
}

// TLS describes an SMTP connection's TLS layer.
type TLS struct {
	// Version is the protocol version, such as "TLS 1.3".
	Version string `json:"version"`
	// Cipher is the cipher suite's name, such as "TLS_AES_128_GCM_SHA256".
	Cipher string `json:"cipher"`
}

// Delivery is one action to run for a message: the action's name, as the
// Runner knows it (a route's pattern), and the recipients it is for. A
// message committed once fans out to one Delivery per action.
type Delivery struct {
	// Action names the action; the Runner looks it up.
	Action string `json:"action"`
	// Rcpt holds the recipients the action is for.
	Rcpt []string `json:"rcpt"`
}

// Message is a queued message as an action sees it while it runs.
type Message struct {
	// ID names the message in the queue: unique, and the same across
	// retries, replays and restarts.
	ID string
	// Envelope is the message's SMTP transaction.
	Envelope Envelope
	// Body reads the message as received, headers first. It is valid only
	// while the action runs.
	Body *io.SectionReader
}

// Attempt is one try of one delivery, as the Runner is handed it.
type Attempt struct {
	Delivery
	// ID names this delivery of this message: the message's ID, a dot and
	// the delivery's index. It is the same on every try of the delivery,
	// after a crash and after a replay, so a receiver can use it to
	// recognise a repeat (a webhook's webhook-id).
	ID string
	// Number counts the tries of this delivery, from 1.
	Number int
	// Final is true when this is the delivery's last try: the message's
	// lifetime ends before a next try could come, so a failure now makes
	// the delivery dead, as a Permanent error does. A Runner that owes
	// someone word of a failure (a bounce to the sender) gives it when it
	// fails on a Final try or with a Permanent error. An error made with
	// RetryAfter may end a delivery that was not Final too.
	Final bool
}

// Runner runs one delivery of a message. It returns nil once the delivery
// is done (a receiver confirmed it); the queue then never runs it again.
// Any other error is a failure: the delivery is tried again later, with
// backoff, until the queue's lifetime for the message has passed, unless
// the error is Permanent; RetryAfter asks for a later try no sooner than a
// given time. A delivery whose Run was cut off by a crash is run again with
// the same Attempt.ID.
type Runner interface {
	Run(ctx context.Context, m *Message, a *Attempt) error
}

// RunnerFunc adapts a function to Runner.
type RunnerFunc func(ctx context.Context, m *Message, a *Attempt) error

// Run calls f(ctx, m, a).
func (f RunnerFunc) Run(ctx context.Context, m *Message, a *Attempt) error { return f(ctx, m, a) }

// permanentError marks a failure that no retry can mend.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as a failure that trying again cannot mend (a
// webhook's 410 Gone): the delivery goes to the dead letters at once, with
// err's text as the reason.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// IsPermanent reports whether err, or an error it wraps, was marked with
// Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// retryError carries the earliest time of the next try.
type retryError struct {
	err   error
	after time.Duration
}

func (e *retryError) Error() string { return fmt.Sprintf("%v (retry after %v)", e.err, e.after) }
func (e *retryError) Unwrap() error { return e.err }

// RetryAfter marks err as a failure to try again no sooner than after from
// now (an HTTP Retry-After), still within the message's lifetime; a longer
// wait than the backoff's is taken as it is.
func RetryAfter(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryError{err, after}
}

// retryAfter returns the wait that err asks for with RetryAfter, if any.
func retryAfter(err error) (time.Duration, bool) {
	var r *retryError
	if errors.As(err, &r) {
		return r.after, true
	}
	return 0, false
}
