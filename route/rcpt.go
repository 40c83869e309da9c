package route

import (
	"context"
	"fmt"

	"github.com/ownmx/ownmx/smtpd"
)

// Rcpt accepts a recipient that a pattern matches and refuses any other
// with 550 5.1.1 (smtpd.ErrNoSuchUser; the log, not the client, learns
// that no route matched). The matched pattern's actions that are
// smtpd.RcptHandlers are asked too, in order, and the first refusal is
// the reply: a Store over store.Mailboxes refuses a new mailbox past its
// bounds with 450 4.2.1. It makes *Mux an smtpd.RcptHandler.
//
// Rcpt is no relay protection: a "me@" or "*" pattern matches any domain.
// Put smtpd.AcceptDomains before it, with Then(mux).
func (mux *Mux) Rcpt(ctx context.Context, env *smtpd.Envelope, to string) error {
	r := mux.match(to)
	if r == nil {
		return fmt.Errorf("route: no route for recipient %q: %w", cut(to), smtpd.ErrNoSuchUser)
	}
	for i, a := range r.actions {
		h, ok := a.(smtpd.RcptHandler)
		if !ok {
			continue
		}
		if err := h.Rcpt(ctx, env, to); err != nil {
			return fmt.Errorf("route: %s: %w", actionName(r.pattern, i), err)
		}
	}
	return nil
}
