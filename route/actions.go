package route

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ownmx/ownmx/queue"
	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/store"
)

// Drop is the action that discards the mail of its route: it does nothing
// and is done at once. A message whose every action is Drop is accepted
// (250) and never committed to the queue.
var Drop Action = drop{}

type drop struct{}

func (drop) Run(context.Context, *queue.Message, *queue.Attempt) error { return nil }

// isDrop reports whether a is Drop.
func isDrop(a Action) bool {
	_, ok := a.(drop)
	return ok
}

// Store returns the action that delivers a message to s, for the
// recipients of its route: s gets an smtpd.Envelope with the message's ID,
// From, SMTPUTF8 and Quarantine and the Attempt's recipients, so that
// store.Maildir and store.Mailboxes put a quarantined message in Junk.
//
// When s is an smtpd.RcptHandler too (store.Mailboxes), so is the action:
// the Mux asks it about each recipient at RCPT time, and the client hears
// its refusals (550 5.1.1 for an unknown user, 450 4.2.1 past the bound
// on new mailboxes) before any message is queued.
//
// A refusal by s with a permanent reply (an *smtpd.Error of 5xx, such as
// the 550 5.1.1 of a mailbox removed since the message was queued) ends
// the delivery at once (queue.Permanent); any other error is tried again.
// As every queued action, it runs at least once: a crash between the
// store's return and the queue's record of it runs it again, and the
// message is then in the Maildir twice.
func Store(s store.Store) Action {
	if h, ok := s.(smtpd.RcptHandler); ok {
		return storeRcpt{storeAction{s}, h}
	}
	return storeAction{s}
}

type storeAction struct{ s store.Store }

func (st storeAction) Run(ctx context.Context, m *queue.Message, a *queue.Attempt) error {
	if m.Body == nil {
		return fmt.Errorf("route: store: message %s has no body", m.ID)
	}
	env := &smtpd.Envelope{
		ID:         m.Envelope.ID,
		From:       m.Envelope.From,
		Rcpt:       append([]string(nil), a.Rcpt...),
		SMTPUTF8:   m.Envelope.SMTPUTF8,
		Quarantine: m.Envelope.Quarantine,
	}
	body := io.NewSectionReader(m.Body, 0, m.Body.Size())
	if err := st.s.Deliver(ctx, env, body); err != nil {
		err = fmt.Errorf("route: storing message %s for %q: %w", m.ID, a.Rcpt, err)
		var reply *smtpd.Error
		if errors.As(err, &reply) && !reply.Temporary() {
			return queue.Permanent(err)
		}
		return err
	}
	return nil
}

// storeRcpt is a Store action over a store that is an smtpd.RcptHandler.
type storeRcpt struct {
	storeAction
	h smtpd.RcptHandler
}

func (st storeRcpt) Rcpt(ctx context.Context, env *smtpd.Envelope, to string) error {
	return st.h.Rcpt(ctx, env, to)
}
