package route

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ownmx/ownmx/internal/ascii"
	"github.com/ownmx/ownmx/queue"
	"github.com/ownmx/ownmx/smtpd"
)

// Action is what a route does with a message for its recipients: store it,
// post it to a webhook, forward it, drop it. It runs from the queue, as a
// queue.Runner, once per message and route, with the route's recipients in
// the Attempt. An Action may also implement smtpd.RcptHandler, to be asked
// about each recipient at RCPT time, and Decider, to decide the reply to
// DATA itself.
type Action = queue.Runner

// Mux routes recipients to actions by pattern, as net/http's ServeMux routes
// requests to handlers: the most specific pattern that matches a recipient
// wins (see the package documentation for the patterns and their
// precedence). It is the server's Rcpt handler (Rcpt), makes its Data
// handler (Handler), and runs the queued deliveries (Run).
//
// The zero value is an empty Mux ready to use. Routes may be added while it
// serves; it is safe for concurrent use.
type Mux struct {
	// Now gives the time a message is received. Default: time.Now.
	Now func() time.Time

	mu     sync.RWMutex
	routes map[string]*route // by canonical pattern
	// prefixes holds the prefix patterns by domain ("" for those that name
	// none), longest prefix first.
	prefixes map[string][]prefixRoute
}

// prefixRoute is a prefix pattern's route and its prefix.
type prefixRoute struct {
	prefix string
	route  *route
}

// route is one pattern with its actions.
type route struct {
	pattern string   // canonical
	actions []Action // at least one
}

// NewMux returns an empty Mux.
func NewMux() *Mux { return &Mux{} }

// Handle routes the recipients that pattern matches to actions, which run
// in turn for each message. It panics if pattern is not valid, if the Mux
// already has it (in any spelling of the same canonical pattern: "Me@" and
// "me@" are one), or if actions is empty or holds nil, as ServeMux.Handle
// panics: use it for routes written in the program, and Register for
// routes read from a configuration.
func (mux *Mux) Handle(pattern string, actions ...Action) {
	if err := mux.Register(pattern, actions...); err != nil {
		panic(err)
	}
}

// Register is Handle that returns an error instead of panicking, for
// patterns that come from a configuration file. The error wraps
// ErrBadPattern for a pattern that is not valid, and names the pattern.
func (mux *Mux) Register(pattern string, actions ...Action) error {
	key, err := canonical(pattern)
	if err != nil {
		return err
	}
	if len(actions) == 0 {
		return fmt.Errorf("route: pattern %q has no action (use Drop to discard its mail)", pattern)
	}
	for i, a := range actions {
		if a == nil {
			return fmt.Errorf("route: pattern %q: action %d is nil", pattern, i+1)
		}
	}
	mux.mu.Lock()
	defer mux.mu.Unlock()
	if old, ok := mux.routes[key]; ok {
		return fmt.Errorf("route: pattern %q is registered already (as %q)", pattern, old.pattern)
	}
	if mux.routes == nil {
		mux.routes = make(map[string]*route)
	}
	r := &route{pattern: key, actions: append([]Action(nil), actions...)}
	mux.routes[key] = r
	if prefix, domain, ok := isPrefixPattern(key); ok {
		if mux.prefixes == nil {
			mux.prefixes = make(map[string][]prefixRoute)
		}
		list := append(mux.prefixes[domain], prefixRoute{prefix, r})
		slices.SortStableFunc(list, func(a, b prefixRoute) int { return len(b.prefix) - len(a.prefix) })
		mux.prefixes[domain] = list
	}
	return nil
}

// Match returns the most specific pattern that matches rcpt, in its
// canonical form (ASCII lower case, domain in A-labels), and that
// pattern's actions. ok is false when no pattern matches. The actions are
// shared: do not change the slice.
func (mux *Mux) Match(rcpt string) (pattern string, actions []Action, ok bool) {
	if r := mux.match(rcpt); r != nil {
		return r.pattern, r.actions, true
	}
	return "", nil, false
}

func (mux *Mux) match(rcpt string) *route {
	mux.mu.RLock()
	defer mux.mu.RUnlock()
	if len(mux.routes) == 0 {
		return nil
	}
	keys := candidates(rcpt)
	for _, key := range keys {
		if domain, ok := strings.CutPrefix(key, prefixesAt); ok {
			if r := mux.matchPrefix(domain, rcpt); r != nil {
				return r
			}
			continue
		}
		if r, ok := mux.routes[key]; ok {
			return r
		}
	}
	return nil
}

// matchPrefix returns the route of the longest prefix pattern at domain
// ("" for any domain) that rcpt's local part begins with, in ASCII lower
// case. The caller holds mu.
func (mux *Mux) matchPrefix(domain, rcpt string) *route {
	list := mux.prefixes[domain]
	if len(list) == 0 {
		return nil
	}
	local, _, ok := smtpd.SplitAddress(rcpt)
	if !ok {
		local = rcpt
	}
	local = ascii.Lower(local)
	for _, p := range list {
		if len(local) > len(p.prefix) && strings.HasPrefix(local, p.prefix) {
			return p.route
		}
	}
	return nil
}

// actionName is the stable name of a route's action in a queue.Delivery:
// the canonical pattern, "#" and the action's place among the pattern's
// actions, counted from 1: "orders+*@example.com#1".
func actionName(pattern string, i int) string {
	return pattern + "#" + strconv.Itoa(i+1)
}

func (mux *Mux) now() time.Time {
	if mux.Now != nil {
		return mux.Now()
	}
	return time.Now()
}
