package store

import (
	"context"
	"io"

	"github.com/ownmx/ownmx/smtpd"
)

// Store keeps messages. Deliver reads the message from r to its end and
// either stores all of it durably, so that it survives a crash or power loss
// once Deliver returns, and returns nil, or returns an error and leaves
// nothing behind. The error wraps what went wrong, including an error from r
// or ctx, so a server can answer with the reply r carried (such as
// smtpd.ErrMessageTooLarge).
//
// r may be a one-pass stream: Deliver reads it once. Deliver is safe for
// concurrent use.
type Store interface {
	Deliver(ctx context.Context, env *smtpd.Envelope, r io.Reader) error
}

// DeliverFunc adapts a function to Store.
type DeliverFunc func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error

// Deliver calls f(ctx, env, r).
func (f DeliverFunc) Deliver(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
	return f(ctx, env, r)
}

// Handler returns an smtpd.DataHandler that delivers each message to s, so
// that the server answers 250 only once s has stored it.
func Handler(s Store) smtpd.DataHandler { return smtpd.DataFunc(s.Deliver) }

// The types of this package satisfy the interfaces they are meant for.
var (
	_ Store             = (*Maildir)(nil)
	_ Store             = (*Mailboxes)(nil)
	_ Store             = DeliverFunc(nil)
	_ smtpd.RcptHandler = (*Mailboxes)(nil)

	// The signature of the free-space hook of smtpd.Server.
	_ func(context.Context) (int64, error) = (*Mailboxes)(nil).FreeSpace
	_ func(context.Context) (int64, error) = (*Maildir)(nil).FreeSpace
)
