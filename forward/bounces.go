package forward

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ownmx/ownmx/queue"
	"github.com/ownmx/ownmx/route"
	"github.com/ownmx/ownmx/send"
	"github.com/ownmx/ownmx/smtpd"
)

// HandleBounces routes the SRS addresses of f.SRS.Domain ("SRS0=*@" and
// "SRS1=*@" that domain) to the action that hands what arrives for them
// back to the original sender: Bounces.
func (f *Forwarder) HandleBounces(mux *route.Mux) error {
	if f.SRS == nil || f.SRS.Domain == "" {
		return errors.New("forward: HandleBounces needs an SRS Rewriter with its Domain")
	}
	b := f.Bounces()
	for _, prefix := range []string{"srs0=", "srs1="} {
		if err := mux.Register(prefix+"*@"+f.SRS.Domain, b); err != nil {
			return err
		}
	}
	return nil
}

// Bounces returns the action for mail to SRS addresses (HandleBounces
// routes them to it). It is an smtpd.RcptHandler that refuses an address
// that is forged, malformed or older than the Rewriter's MaxAge with 550
// 5.1.1, and a queue.Runner that sends the message, unchanged, to the
// address that the SRS address stands for: MAIL FROM stays null for a
// bounce, and is rewritten with SRS otherwise. A bounce that cannot be
// delivered is not bounced again.
func (f *Forwarder) Bounces() route.Action { return bounces{f} }

type bounces struct{ f *Forwarder }

func (b bounces) Rcpt(ctx context.Context, env *smtpd.Envelope, to string) error {
	if b.f.SRS == nil {
		return fmt.Errorf("forward: no SRS Rewriter for %q: %w", to, smtpd.ErrNoSuchUser)
	}
	if _, err := b.f.SRS.Reverse(to); err != nil {
		return fmt.Errorf("forward: SRS address %q: %v: %w", to, err, smtpd.ErrNoSuchUser)
	}
	return nil
}

func (b bounces) Run(ctx context.Context, m *queue.Message, a *queue.Attempt) error {
	f := b.f
	if f.SRS == nil {
		return queue.Permanent(fmt.Errorf("forward: message %s for %q: no SRS Rewriter to read the address", m.ID, a.Rcpt))
	}
	from := m.Envelope.From
	if from != "" && f.SRS != nil {
		if rewritten, err := f.SRS.Forward(from); err == nil {
			from = rewritten
		}
	}
	var failed []error
	for _, rcpt := range a.Rcpt {
		orig, err := f.SRS.Reverse(rcpt)
		if err != nil {
			// Good at RCPT, too old now: a bounce that waited in the queue.
			failed = append(failed, queue.Permanent(fmt.Errorf("forward: SRS address %q: %w", rcpt, err)))
			continue
		}
		if err := f.Sender.Send(ctx, from, orig, io.NewSectionReader(m.Body, 0, m.Body.Size())); err != nil {
			if send.IsPermanent(err) || a.Final {
				f.logger().Warn("forward: bounce not delivered", "id", m.ID, "rcpt", rcpt, "to", orig, "err", err)
				failed = append(failed, queue.Permanent(fmt.Errorf("forward: returning message %s to %s: %w", m.ID, orig, err)))
				continue
			}
			return fmt.Errorf("forward: returning message %s to %s: %w", m.ID, orig, err)
		}
		f.logger().Info("forward: returned to the sender", "id", m.ID, "rcpt", rcpt, "to", orig)
	}
	return errors.Join(failed...)
}
