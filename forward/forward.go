package forward

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/ownmx/ownmx/auth"
	"github.com/ownmx/ownmx/queue"
	"github.com/ownmx/ownmx/send"
	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/srs"
)

// DefaultMaxReceived is how many Received fields a message may carry before
// it is taken for a loop and not forwarded: Postfix's hopcount_limit.
const DefaultMaxReceived = 50

// Forwarder forwards messages from the queue: what the forwards of a server
// share. Set its fields before use; it is safe for concurrent use.
type Forwarder struct {
	// Sender sends the forwarded messages and the bounces. Required.
	Sender *send.Sender
	// SRS rewrites MAIL FROM into an address at the forwarding domain, and
	// reads the bounces that come back to it. nil leaves MAIL FROM as it
	// is: SPF at the destination then judges this server against the
	// sender's domain, and fails.
	SRS *srs.Rewriter
	// Sealer adds an ARC set to each forwarded message. nil adds none.
	Sealer *auth.Sealer
	// Checker validates the ARC chain a message arrived with, for the
	// cv= of the new set. nil means a Checker on Sender.Resolver.
	Checker *auth.Checker
	// Hostname is this host's name: the Reporting-MTA of bounces, which
	// come from MAILER-DAEMON@Hostname. Required.
	Hostname string
	// Domains are the server's own domains: a forward to an address there
	// is delivered locally (see To).
	Domains []string
	// MaxReceived is how many Received fields a message may carry and
	// still be forwarded; 0 means DefaultMaxReceived.
	MaxReceived int
	// Logger receives a record per message forwarded, declined or
	// bounced. nil means slog.Default().
	Logger *slog.Logger
	// Now tells the time for bounces. nil means time.Now.
	Now func() time.Time
}

// Target is the route action that forwards its route's mail to one
// address: a queue.Runner, a route.Redirector and a
// route.QuarantineDecliner. Make it with Forwarder.To.
type Target struct {
	// Addr is the address the mail goes to.
	Addr string
	// Quarantined forwards quarantined mail too (see the package
	// documentation); false, the default, declines it.
	Quarantined bool

	f *Forwarder
}

// To returns the action that forwards its route's mail to addr. When addr
// is at one of f.Domains, the action is a redirect (route.Redirector): the
// message is committed for addr's own route, and never sent by SMTP.
func (f *Forwarder) To(addr string) *Target {
	return &Target{Addr: addr, f: f}
}

// Redirect reports whether t's address is at one of the server's own
// domains, and returns it: the route.Redirector that delivers it locally.
func (t *Target) Redirect() (string, bool) {
	return t.Addr, t.f.isLocal(t.Addr)
}

// DeclinesQuarantine reports whether t declines quarantined mail.
func (t *Target) DeclinesQuarantine() bool { return !t.Quarantined }

// Run forwards message m to t's address: the queue.Runner of the action.
func (t *Target) Run(ctx context.Context, m *queue.Message, a *queue.Attempt) error {
	f := t.f
	if m.Envelope.Quarantine && !t.Quarantined {
		f.logger().Info("forward: declined, quarantined", "id", m.ID, "to", t.Addr)
		return queue.Permanent(fmt.Errorf("forward: message %s not forwarded to %s: quarantined under the sender domain's DMARC policy (replay the dead letter to forward it)", m.ID, t.Addr))
	}
	head, err := readHead(m.Body)
	if err != nil {
		return queue.Permanent(fmt.Errorf("forward: message %s: %w", m.ID, err))
	}
	if loop := head.loop(a.Rcpt, f.maxReceived()); loop != "" {
		return f.fail(ctx, m, a, t.Addr, head, &send.Error{Rcpt: t.Addr, Enhanced: smtpd.EnhancedCode{5, 4, 6}, Message: "mail forwarding loop: " + loop, Permanent: true})
	}

	// Delivered-To for each recipient, then the ARC set, added last
	// (RFC 8617 §5.1), above it.
	var added bytes.Buffer
	for _, rcpt := range a.Rcpt {
		fmt.Fprintf(&added, "Delivered-To: %s\r\n", rcpt)
	}
	body := smtpd.MultiReaderAt(bytes.NewReader(added.Bytes()), m.Body)
	var set []byte
	if f.Sealer != nil {
		chain := f.checker().ARC(ctx, io.NewSectionReader(m.Body, 0, m.Body.Size()))
		set, err = f.Sealer.Seal(io.NewSectionReader(body, 0, body.Size()), m.Envelope.Auth, chain)
		if errors.Is(err, auth.ErrARCChainTempError) && !a.Final {
			// The chain may be good: judge it when DNS answers.
			return fmt.Errorf("forward: message %s to %s: %w", m.ID, t.Addr, err)
		}
		if err != nil {
			f.logger().Warn("forward: no ARC set added", "id", m.ID, "to", t.Addr, "chain", chain.Result, "err", err)
			set = nil
		}
	}
	msg := smtpd.MultiReaderAt(bytes.NewReader(set), body)

	from := m.Envelope.From
	if f.SRS != nil && from != "" {
		rewritten, err := f.SRS.Forward(from)
		if err != nil {
			f.logger().Warn("forward: MAIL FROM not rewritten", "id", m.ID, "from", from, "err", err)
		} else {
			from = rewritten
		}
	}
	if err := f.Sender.Send(ctx, from, t.Addr, msg); err != nil {
		if send.IsPermanent(err) || a.Final {
			return f.fail(ctx, m, a, t.Addr, head, err)
		}
		return fmt.Errorf("forward: message %s to %s: %w", m.ID, t.Addr, err)
	}
	f.logger().Info("forward: sent", "id", m.ID, "attempt", a.ID, "rcpt", a.Rcpt, "to", t.Addr, "mail_from", from, "arc", len(set) > 0)
	return nil
}

// fail ends a delivery of m to target that failed for good with cause, and
// bounces it to the original sender when one is owed: not for the null
// sender, and not for a bounce. A bounce that cannot be sent now makes the
// delivery fail for a later try (the forward with it), unless this try is
// the last.
func (f *Forwarder) fail(ctx context.Context, m *queue.Message, a *queue.Attempt, target string, head *head, cause error) error {
	final := queue.Permanent(fmt.Errorf("forward: message %s to %s: %w", m.ID, target, cause))
	switch {
	case m.Envelope.From == "":
		f.logger().Warn("forward: failed; no bounce to the null sender", "id", m.ID, "to", target, "err", cause)
		return final
	case head.report:
		f.logger().Warn("forward: failed; no bounce for a bounce", "id", m.ID, "to", target, "err", cause)
		return final
	}
	original := ""
	if len(a.Rcpt) > 0 {
		original = a.Rcpt[0]
	}
	b := &send.Bounce{
		ReportingMTA: f.Hostname,
		From:         "MAILER-DAEMON@" + f.Hostname,
		To:           m.Envelope.From,
		Rcpt:         target,
		OriginalRcpt: original,
		Arrival:      m.Envelope.Received,
		Err:          cause,
		Header:       bytes.NewReader(head.raw),
		Now:          f.now(),
	}
	dsn, err := b.Message()
	if err != nil {
		f.logger().Error("forward: failed; no bounce made", "id", m.ID, "to", target, "err", cause, "bounce_err", err)
		return final
	}
	if err := f.Sender.Send(ctx, "", m.Envelope.From, io.NewSectionReader(bytes.NewReader(dsn), 0, int64(len(dsn)))); err != nil {
		if send.IsPermanent(err) || a.Final {
			f.logger().Warn("forward: failed; the bounce could not be sent", "id", m.ID, "to", target, "sender", m.Envelope.From, "err", cause, "bounce_err", err)
			return final
		}
		return fmt.Errorf("forward: message %s to %s failed (%v), and its bounce to %s: %w", m.ID, target, cause, m.Envelope.From, err)
	}
	f.logger().Info("forward: failed; bounced", "id", m.ID, "to", target, "sender", m.Envelope.From, "err", cause)
	return final
}

// isLocal reports whether addr is at one of f.Domains.
func (f *Forwarder) isLocal(addr string) bool {
	_, domain, ok := smtpd.SplitAddress(addr)
	if !ok {
		return false
	}
	d, err := smtpd.ToASCII(strings.TrimSuffix(domain, "."))
	if err != nil {
		return false
	}
	return slices.ContainsFunc(f.Domains, func(own string) bool {
		o, err := smtpd.ToASCII(strings.TrimSuffix(own, "."))
		return err == nil && o == d
	})
}

func (f *Forwarder) checker() *auth.Checker {
	if f.Checker != nil {
		return f.Checker
	}
	return &auth.Checker{Resolver: f.Sender.Resolver, Logger: f.Logger}
}

func (f *Forwarder) maxReceived() int {
	if f.MaxReceived > 0 {
		return f.MaxReceived
	}
	return DefaultMaxReceived
}

func (f *Forwarder) logger() *slog.Logger {
	if f.Logger != nil {
		return f.Logger
	}
	return slog.Default()
}

func (f *Forwarder) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}
