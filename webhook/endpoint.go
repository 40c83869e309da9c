package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/ownmx/ownmx/queue"
	"github.com/ownmx/ownmx/smtpd"
)

// Format is the body of a webhook: JSON (the default) or RFC822.
type Format string

// The Formats of an Endpoint.
const (
	// JSON sends a Payload, Content-Type application/json.
	JSON Format = "json"
	// RFC822 sends the message as received, Content-Type
	// message/rfc822, with the envelope in Envelope-* headers.
	RFC822 Format = "rfc822"
)

// Defaults of the Endpoint fields left at zero.
const (
	// DefaultMaxAttachmentBytes bounds the attachments' contents in a
	// JSON payload, in all, decoded: 10 MiB (about 13.3 MiB of base64).
	DefaultMaxAttachmentBytes = 10 << 20
	// DefaultMaxConcurrent is how many requests an Endpoint has in flight
	// at once.
	DefaultMaxConcurrent = 4
	// DefaultTimeout bounds each request, from its start to the end of
	// the response's header: 30 seconds, the top of the 15 to 30 seconds
	// that Standard Webhooks recommends.
	DefaultTimeout = 30 * time.Second
)

// userAgent is the User-Agent of every request.
const userAgent = "ownmx-webhook"

// Endpoint POSTs messages to a URL, signed as Standard Webhooks has it. It
// is a queue.Runner (Run) for delivery from a queue, with retries, and
// answers an SMTP transaction at once with Sync's Decide. Its zero value with URL
// set is ready to use; set Secrets to sign. An Endpoint must not be copied
// after first use, and its fields must not change then.
type Endpoint struct {
	// URL is where the webhooks go: http or https. Its query string and
	// userinfo never appear in errors.
	URL string
	// Secrets sign each request: one v1 signature per secret in
	// webhook-signature, in this order ("whsec_" and base64; see
	// NewSecret). Two during a rotation, the new and the old. Without
	// secrets the requests go unsigned, and a receiver cannot tell them
	// from forgeries.
	Secrets []string
	// Format is the body: JSON or RFC822. Zero means JSON.
	Format Format
	// MaxAttachmentBytes bounds the contents of attachments that a JSON
	// payload carries, in all, decoded: an attachment that does not fit in
	// what is left is listed without its content and with "omitted": true.
	// Zero means DefaultMaxAttachmentBytes; negative means no limit.
	MaxAttachmentBytes int64
	// MaxConcurrent bounds the requests in flight at once; others wait
	// for a slot (a bound on the receiver's load and on the memory of the
	// JSON bodies being sent, each up to MaxAttachmentBytes and 2 MiB of
	// text and HTML, in base64 and JSON; an RFC822 body is read from the
	// queue's file, not held). Zero means DefaultMaxConcurrent; negative
	// means no limit.
	MaxConcurrent int
	// Timeout bounds each request, up to the end of the response's header.
	// Zero means DefaultTimeout; negative means none (then only ctx and
	// Client bound it).
	Timeout time.Duration
	// Client sends the requests; nil means an http.Client on
	// http.DefaultTransport (which follows HTTPS_PROXY). Redirects are
	// never followed, whatever its CheckRedirect.
	Client *http.Client
	// Now gives the time for webhook-timestamp and for Retry-After dates.
	// Default: time.Now.
	Now func() time.Time

	slotsOnce sync.Once
	slots     chan struct{} // nil for no limit

	clientOnce sync.Once
	httpClient *http.Client
}

// Run POSTs m for the recipients of a (a route's: the payload's rcpt_to)
// with webhook-id a.ID, the same on every try. It returns nil for a 2xx
// answer. It returns an error made Permanent by queue.Permanent for a 4xx
// other than 408 and 429: the receiver refused the message, and trying
// again cannot mend it. Anything else is an error the queue retries: 408,
// 429, 5xx, 1xx and 3xx answers (redirects are not followed: see the package
// documentation), a timeout, a connection error, a malformed URL or
// secret, and a cancelled ctx; with queue.RetryAfter when the answer had
// a Retry-After header. Errors from answers are *StatusError.
func (e *Endpoint) Run(ctx context.Context, m *queue.Message, a *queue.Attempt) error {
	return e.send(ctx, m, a.Rcpt, a.ID)
}

// Sync returns e in its synchronous form, for a route whose receiver
// chooses the SMTP reply: a route.Mux asks its Decide while the client
// waits, and does not queue the message for it. An Endpoint by itself is
// queued: the client hears 250 once the message is committed, and the
// queue retries the POST.
//
//	mux.Handle("orders+*@", hook)        // queued, retried
//	mux.Handle("support@", hook.Sync())  // the receiver's answer is the reply
func (e *Endpoint) Sync() Sync { return Sync{e} }

// Sync is an Endpoint whose POST decides the SMTP reply (see Decide): a
// route.Decider. Its Run is the Endpoint's.
type Sync struct {
	Endpoint *Endpoint
}

// Run POSTs m for the delivery a, as Endpoint.Run does.
func (s Sync) Run(ctx context.Context, m *queue.Message, a *queue.Attempt) error {
	return s.Endpoint.Run(ctx, m, a)
}

// Decide POSTs m at once for the recipients rcpt, for an application that
// wants the receiver to choose the SMTP reply: a route.Mux calls it from
// its Data handler, and so may a Data handler of your own, returning its
// error. The body is the same as Run's, webhook-id is m.ID
// (else m.Envelope.ID), and the whole call, waiting for a slot included,
// is bounded by Timeout. It returns nil for a 2xx answer (the server
// answers 250); an *smtpd.Error 550 5.7.1 when Run's error would be
// Permanent (a 4xx other than 408 and 429: the receiver refused the
// message, which is not kept); and an *smtpd.Error 451 4.3.0 for anything
// else (408, 429, 5xx, a timeout, a connection error), so that the client
// tries again later. The cause is in the *smtpd.Error's Err, for the log;
// the client hears nothing of the URL.
func (s Sync) Decide(ctx context.Context, m *queue.Message, rcpt []string) error {
	e := s.Endpoint
	if t := e.timeout(); t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	id := m.ID
	if id == "" {
		id = m.Envelope.ID
	}
	err := e.send(ctx, m, rcpt, id)
	switch {
	case err == nil:
		return nil
	case queue.IsPermanent(err):
		return &smtpd.Error{Code: 550, Enhanced: smtpd.EnhancedCode{5, 7, 1},
			Message: "Message refused by the recipient's application", Err: err}
	default:
		return &smtpd.Error{Code: 451, Enhanced: smtpd.EnhancedCode{4, 3, 0},
			Message: "The recipient's application is not available, try again later", Err: err}
	}
}

// Check reports whether the Endpoint's URL, Format and Secrets can be
// used; Run and Decide fail with the same error while they cannot. Call it
// when the program starts.
func (e *Endpoint) Check() error {
	_, _, err := e.config()
	return err
}

// config returns the parsed URL and the HMAC keys (nil when unsigned).
func (e *Endpoint) config() (*url.URL, [][]byte, error) {
	u, err := url.Parse(e.URL)
	if err != nil {
		return nil, nil, fmt.Errorf("webhook: malformed URL %q", redact(e.URL))
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, nil, fmt.Errorf("webhook: URL %q: want http:// or https:// and a host", redact(e.URL))
	}
	switch e.Format {
	case "", JSON, RFC822:
	default:
		return nil, nil, fmt.Errorf("webhook: unknown Format %q: want %q or %q", e.Format, JSON, RFC822)
	}
	if len(e.Secrets) == 0 {
		return u, nil, nil
	}
	keys, err := parseSecrets(e.Secrets)
	if err != nil {
		return nil, nil, fmt.Errorf("webhook: Endpoint %s: %w", redact(e.URL), err)
	}
	return u, keys, nil
}

// send POSTs m once, signed with id, and returns the outcome.
func (e *Endpoint) send(ctx context.Context, m *queue.Message, rcpt []string, id string) error {
	u, keys, err := e.config()
	if err != nil {
		return err
	}
	where := redact(e.URL)
	if id == "" {
		id = randomID()
	}
	if err := e.acquire(ctx); err != nil {
		return fmt.Errorf("webhook: POST %s: waiting for one of the %d request slots: %w", where, cap(e.slots), err)
	}
	defer e.release()

	// The body is made once a slot is held, so that MaxConcurrent bounds
	// the JSON bodies in memory too.
	body, header, err := e.body(m, rcpt)
	if err != nil {
		return err
	}
	timeout := e.timeout()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), io.NewSectionReader(body, 0, body.Size()))
	if err != nil {
		return fmt.Errorf("webhook: POST %s: %w", where, err)
	}
	req.ContentLength = body.Size()
	req.GetBody = func() (io.ReadCloser, error) {
		return io.NopCloser(io.NewSectionReader(body, 0, body.Size())), nil
	}
	req.Header = header
	req.Header.Set("User-Agent", userAgent)
	timestamp := e.now().Unix()
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(timestamp, 10))
	if keys != nil {
		sig, err := signReader(keys, id, timestamp, io.NewSectionReader(body, 0, body.Size()))
		if err != nil {
			return fmt.Errorf("webhook: reading message %s: %w", m.ID, err)
		}
		req.Header.Set(HeaderSignature, sig)
	}
	resp, err := e.client().Do(req)
	if err != nil {
		return requestError(ctx, where, timeout, err)
	}
	defer resp.Body.Close()
	return e.outcome(where, resp)
}

// body returns the request's body and header for the Format: the JSON
// payload in memory, or the message where it lies.
func (e *Endpoint) body(m *queue.Message, rcpt []string) (*io.SectionReader, http.Header, error) {
	if e.Format == RFC822 {
		return rfc822Body(m, rcpt)
	}
	limit := e.MaxAttachmentBytes
	if limit == 0 {
		limit = DefaultMaxAttachmentBytes
	}
	body, err := jsonBody(m, rcpt, limit)
	if err != nil {
		return nil, nil, err
	}
	return io.NewSectionReader(bytes.NewReader(body), 0, int64(len(body))), http.Header{"Content-Type": {"application/json"}}, nil
}

// requestError describes an error of Client.Do without the URL (which
// url.Error would quote whole, query string and all).
func requestError(ctx context.Context, where string, timeout time.Duration, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("webhook: POST %s: no answer within %v: %w", where, timeout, context.DeadlineExceeded)
	}
	return fmt.Errorf("webhook: POST %s: %w", where, err)
}

// acquire waits for a request slot, or for ctx.
func (e *Endpoint) acquire(ctx context.Context) error {
	e.slotsOnce.Do(func() {
		n := e.MaxConcurrent
		if n == 0 {
			n = DefaultMaxConcurrent
		}
		if n > 0 {
			e.slots = make(chan struct{}, n)
		}
	})
	if e.slots == nil {
		return ctx.Err()
	}
	select {
	case e.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// release frees the slot that acquire took.
func (e *Endpoint) release() {
	if e.slots != nil {
		<-e.slots
	}
}

func (e *Endpoint) timeout() time.Duration {
	if e.Timeout == 0 {
		return DefaultTimeout
	}
	return e.Timeout
}

func (e *Endpoint) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// client returns Client, or a default one, that does not follow
// redirects. The default one has its own copy of http.DefaultTransport
// that keeps as many idle connections to the receiver as MaxConcurrent
// lets requests run, so that a busy queue reuses its connections (the
// default transport keeps two per host, and would open and close the
// others at every POST).
func (e *Endpoint) client() *http.Client {
	e.clientOnce.Do(func() {
		var c http.Client
		if e.Client != nil {
			c = *e.Client
		} else {
			t := http.DefaultTransport.(*http.Transport).Clone()
			t.MaxIdleConnsPerHost = max(e.MaxConcurrent, DefaultMaxConcurrent, t.MaxIdleConnsPerHost)
			c.Transport = t
		}
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		e.httpClient = &c
	})
	return e.httpClient
}

// randomID names a webhook that was given no ID.
func randomID() string {
	b := make([]byte, 12)
	rand.Read(b) // never fails (crypto/rand)
	return "msg_" + hex.EncodeToString(b)
}
