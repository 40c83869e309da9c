package route

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/ownmx/ownmx/auth"
	"github.com/ownmx/ownmx/queue"
	"github.com/ownmx/ownmx/smtpd"
)

// Committer commits a message with its deliveries: *queue.Queue is one.
// Add returns once the message is durable, or an error and nothing kept.
type Committer interface {
	Add(ctx context.Context, env *queue.Envelope, deliveries []queue.Delivery, body io.Reader) (string, error)
}

// Decider is an Action that decides the reply to DATA itself, while the
// client waits: a webhook in synchronous mode, say. Decide gets the
// message before it is committed, with the recipients of its route, and
// returns nil to accept it, or an *smtpd.Error to refuse (5xx) or defer
// (4xx) the whole message; any other error defers it (451 4.3.0). A
// Decider that accepted is not queued: it has done its work.
//
// m.ID is the SMTP transaction's ID (the queue has not named the message
// yet) and m.Body is valid only while Decide runs.
type Decider interface {
	Action
	Decide(ctx context.Context, m *queue.Message, rcpt []string) error
}

// Redirector is an Action that stands for another recipient of this
// server: a forward to an address at one of its own domains. At DATA the
// Mux commits the message for the actions of the route that the target
// matches, with the target as their recipient, in place of the
// Redirector's own delivery, as Postfix resolves a virtual alias before it
// queues. Redirect returns the target, and false when the action is to run
// as itself. Redirects are followed up to 8 deep; a loop, or a target that
// matches no route, defers the message (451 4.3.0) with an error naming
// it.
type Redirector interface {
	Action
	Redirect() (rcpt string, ok bool)
}

// QuarantineDecliner is an Action that declines quarantined mail (the
// Quarantine of a DMARC policy): a forward, which would hand another
// provider as good a message that this server filed as Junk. For a
// quarantined message, the Mux leaves such an action out when its route
// keeps the message by another action (a Store, which files it in Junk),
// and commits it otherwise, so that the action declines the message when
// it runs (a dead letter that says why, which an operator may replay).
type QuarantineDecliner interface {
	Action
	DeclinesQuarantine() bool
}

// Handler returns the smtpd.DataHandler that routes each message: it
// matches each recipient, asks the Deciders among the matched routes'
// actions, and commits the message ONCE to q with one queue.Delivery per
// route and action (Drop and the Deciders aside), whose Action names it
// for Run and whose Rcpt holds that route's recipients. The client hears
// 250 only once q has the message; nothing is committed when every action
// left is Drop.
//
// The Deciders run one after another, before the commit, on the message
// read again with smtpd.Reread (after a middleware that spooled it, such
// as auth.Checker's) or else on a copy in an smtpd.Spool. The first that
// refuses or defers ends the transaction with its reply, as SMTP has one
// reply per message: nothing is committed, and the Deciders after it are
// not asked (those before it have seen the message, and will see it again
// when the client retries a deferred one).
//
// A recipient that no route matches (the routes changed since RCPT, or
// smtpd.AcceptDomains passed a postmaster that has no route) defers the
// message with 451 4.3.0 and an error in the log naming the recipient:
// give postmaster a route, as RFC 5321 §4.5.1 requires its mail to be
// accepted. An error of q.Add is answered 451 4.3.0 by smtpd, or with the
// reply of the DATA reader it wraps (552 5.3.4 for a message too large).
func (mux *Mux) Handler(q Committer) smtpd.DataHandler {
	return smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
		return mux.data(ctx, q, env, r)
	})
}

// group is one matched route and the recipients it matched.
type group struct {
	route *route
	rcpt  []string
}

func (mux *Mux) data(ctx context.Context, q Committer, env *smtpd.Envelope, r io.Reader) error {
	groups, err := mux.group(env.Rcpt)
	if err != nil {
		return err
	}
	qenv := queueEnvelope(env, mux.now())

	// The Deciders first: the reply depends on them.
	var body *io.SectionReader // the message read again, once needed
	for _, g := range groups {
		for i, a := range g.route.actions {
			d, ok := a.(Decider)
			if !ok {
				continue
			}
			if body == nil {
				var closeSpool func() error
				body, closeSpool, err = rereadable(r)
				if err != nil {
					return err
				}
				defer closeSpool()
			}
			m := &queue.Message{ID: env.ID, Envelope: *qenv, Body: io.NewSectionReader(body, 0, body.Size())}
			if err := d.Decide(ctx, m, append([]string(nil), g.rcpt...)); err != nil {
				return fmt.Errorf("route: %s decided on message %s: %w", actionName(g.route.pattern, i), env.ID, err)
			}
		}
	}

	deliveries, err := mux.deliveries(groups, qenv.Quarantine)
	if err != nil {
		return fmt.Errorf("route: message %s: %w", env.ID, err)
	}
	if len(deliveries) == 0 {
		return nil // all dropped, or decided
	}
	var src io.Reader = r
	if body != nil {
		src = io.NewSectionReader(body, 0, body.Size())
	}
	if _, err := q.Add(ctx, qenv, deliveries, src); err != nil {
		return fmt.Errorf("route: committing message %s: %w", env.ID, err)
	}
	return nil
}

// maxRedirects bounds a chain of Redirectors: a forward to a local address
// that forwards to another, and so on.
const maxRedirects = 8

// deliveries returns the queue deliveries of groups: one per route and
// action, Drop and the Deciders left out, Redirectors replaced by the
// actions of their target's route, and QuarantineDecliners left out of a
// quarantined message when their route keeps it by another action. A
// route and action reached twice (two aliases of one target) is one
// delivery, each recipient in it once.
func (mux *Mux) deliveries(groups []group, quarantine bool) ([]queue.Delivery, error) {
	var out []queue.Delivery
	index := make(map[string]int) // by action name
	add := func(r *route, i int, rcpt []string) {
		name := actionName(r.pattern, i)
		k, ok := index[name]
		if !ok {
			k = len(out)
			index[name] = k
			out = append(out, queue.Delivery{Action: name})
		}
		for _, to := range rcpt {
			if !slices.Contains(out[k].Rcpt, to) {
				out[k].Rcpt = append(out[k].Rcpt, to)
			}
		}
	}
	var expand func(r *route, rcpt []string, depth int, via []string) error
	expand = func(r *route, rcpt []string, depth int, via []string) error {
		for i, a := range r.actions {
			if _, ok := a.(Decider); ok || isDrop(a) {
				continue
			}
			if quarantine && declines(a) && keeps(r) {
				continue
			}
			if rd, ok := a.(Redirector); ok {
				if target, ok := rd.Redirect(); ok {
					if depth >= maxRedirects || slices.Contains(via, target) {
						return fmt.Errorf("redirects loop or go deeper than %d: %q", maxRedirects, append(via, target))
					}
					tr := mux.match(target)
					if tr == nil {
						return fmt.Errorf("%s redirects to %q, which matches no route", actionName(r.pattern, i), cut(target))
					}
					if err := expand(tr, []string{target}, depth+1, append(via, target)); err != nil {
						return err
					}
					continue
				}
			}
			add(r, i, rcpt)
		}
		return nil
	}
	for _, g := range groups {
		if err := expand(g.route, g.rcpt, 0, slices.Clone(g.rcpt)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// declines reports whether a is a QuarantineDecliner that declines.
func declines(a Action) bool {
	d, ok := a.(QuarantineDecliner)
	return ok && d.DeclinesQuarantine()
}

// keeps reports whether r has an action that keeps a quarantined message:
// one that is neither Drop nor a decliner (a Store, a webhook).
func keeps(r *route) bool {
	for _, a := range r.actions {
		if !isDrop(a) && !declines(a) {
			return true
		}
	}
	return false
}

// group matches each recipient and groups them by route, routes in the
// order of their first recipient, recipients in the order given.
func (mux *Mux) group(rcpts []string) ([]group, error) {
	var groups []group
	index := make(map[*route]int)
	for _, rcpt := range rcpts {
		r := mux.match(rcpt)
		if r == nil {
			return nil, fmt.Errorf("route: accepted recipient %q matches no route (routes changed since RCPT, or a postmaster without a route?)", cut(rcpt))
		}
		i, ok := index[r]
		if !ok {
			i = len(groups)
			index[r] = i
			groups = append(groups, group{route: r})
		}
		groups[i].rcpt = append(groups[i].rcpt, rcpt)
	}
	return groups, nil
}

// rereadable returns the message r yields as a reader that can be read
// again: smtpd.Reread's, or a Spool's, which the returned function closes.
// An error of r (the DATA reader's reply) is returned as it is.
func rereadable(r io.Reader) (*io.SectionReader, func() error, error) {
	if msg, ok := smtpd.Reread(r); ok {
		return msg, func() error { return nil }, nil
	}
	sp := &smtpd.Spool{}
	if _, err := sp.ReadFrom(r); err != nil {
		sp.Close()
		return nil, nil, err
	}
	return sp.Reader(), sp.Close, nil
}

// queueEnvelope is what the queue keeps of env.
func queueEnvelope(env *smtpd.Envelope, received time.Time) *queue.Envelope {
	q := &queue.Envelope{
		ID:         env.ID,
		Received:   received,
		From:       env.From,
		Rcpt:       append([]string(nil), env.Rcpt...),
		SMTPUTF8:   env.SMTPUTF8,
		Quarantine: env.Quarantine,
	}
	if c := env.Conn; c != nil {
		if c.RemoteAddr.IsValid() {
			q.ClientIP = c.RemoteAddr.Addr().Unmap().String()
		}
		q.Helo = c.Helo
		if c.TLS != nil {
			q.TLS = &queue.TLS{
				Version: tls.VersionName(c.TLS.Version),
				Cipher:  tls.CipherSuiteName(c.TLS.CipherSuite),
			}
		}
	}
	if res, ok := auth.ResultsFrom(env); ok {
		q.Auth = res
	}
	return q
}
