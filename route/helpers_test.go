package route

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ownmx/ownmx/queue"
	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// testNow is the clock of the tests' Muxes.
var testNow = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

// commit is one call of recorder.Add.
type commit struct {
	env        *queue.Envelope
	deliveries []queue.Delivery
	body       string
}

// recorder is a Committer that keeps what it is given, in memory, and
// fails with err when it is set: the tests see exactly what Add got, and
// make it fail at will. The inbox's tests run the real queue.
type recorder struct {
	mu      sync.Mutex
	commits []commit
	err     error
}

func (r *recorder) Add(ctx context.Context, env *queue.Envelope, deliveries []queue.Delivery, body io.Reader) (string, error) {
	b, err := io.ReadAll(body)
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return "", r.err
	}
	r.commits = append(r.commits, commit{env, deliveries, string(b)})
	return "q1", nil
}

// got returns the commits so far.
func (r *recorder) got() []commit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]commit(nil), r.commits...)
}

// decider is a Decider that answers err and keeps what it was shown.
type decider struct {
	err error

	mu    sync.Mutex
	calls []decision
	runs  int
}

type decision struct {
	id   string
	rcpt []string
	body string
	env  queue.Envelope
}

func (d *decider) Decide(ctx context.Context, m *queue.Message, rcpt []string) error {
	b, err := io.ReadAll(m.Body)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, decision{m.ID, rcpt, string(b), m.Envelope})
	return d.err
}

func (d *decider) Run(ctx context.Context, m *queue.Message, a *queue.Attempt) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.runs++
	return nil
}

func (d *decider) got() []decision {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]decision(nil), d.calls...)
}

// start serves a server for example.com and example.org whose Rcpt handler
// is AcceptDomains(...).Then(mux) and whose Data handler is
// mux.Handler(q) after the middleware, and returns its address.
func start(t *testing.T, mux *Mux, q Committer, middleware ...smtpd.Middleware) string {
	t.Helper()
	return smtptest.Start(t, &smtpd.Server{
		Hostname: "mx.example.com",
		Rcpt:     smtpd.AcceptDomains("example.com", "example.org", "bücher.example").Then(mux),
		Data:     smtpd.Chain(mux.Handler(q), middleware...),
		Logger:   slog.New(slog.DiscardHandler),
	})
}

// wantReply fails the test unless err is an *smtpd.Error with the code
// and enhanced code given, or nil when code is 250.
func wantReply(t *testing.T, err error, code int, enhanced string) {
	t.Helper()
	var e *smtpd.Error
	switch {
	case code == 250 && err != nil:
		t.Fatalf("got %v, want 250", err)
	case code == 250:
	case !errors.As(err, &e):
		t.Fatalf("got %v, want %d %s", err, code, enhanced)
	case e.Code != code || e.Enhanced.String() != enhanced:
		t.Fatalf("got %d %s %s, want %d %s", e.Code, e.Enhanced, e.Message, code, enhanced)
	}
}

// testMessage is the message the tests send.
const testMessage = "From: Alice <alice@example.net>\r\n" +
	"To: sales@example.com\r\n" +
	"Subject: An order\r\n" +
	"\r\n" +
	"Ten crates, please.\r\n"

// wantBody fails the test unless body is the message as received: the
// server's Received header, then testMessage.
func wantBody(t *testing.T, body string) {
	t.Helper()
	if !strings.HasPrefix(body, "Received: ") || !strings.HasSuffix(body, "\r\n"+testMessage) {
		t.Errorf("body %q is not testMessage after a Received header", body)
	}
}
