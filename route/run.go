package route

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/ownmx/ownmx/queue"
)

// Run runs one queued delivery: it finds the action that a.Action names
// (a pattern's canonical form, "#" and the action's place, as Handler
// names them) and runs it. It makes *Mux the queue.Runner of the queue its
// Handler commits to.
//
// A name that no route has any more (the routes changed between the commit
// and the run: a pattern removed, an action taken off its list) is a
// failure that the queue tries again, naming the action, so that an
// operator who restores the route gets the mail delivered rather than
// lost; after the queue's lifetime it goes to the dead letters.
func (mux *Mux) Run(ctx context.Context, m *queue.Message, a *queue.Attempt) error {
	act, err := mux.action(a.Action)
	if err != nil {
		return err
	}
	return act.Run(ctx, m, a)
}

// Action returns the action that a queued delivery's name (its
// queue.Delivery.Action, as Handler names it) stands for, and false when
// no route has it (any more): for a caller that labels deliveries by what
// their action is, such as metrics.
func (mux *Mux) Action(name string) (Action, bool) {
	a, err := mux.action(name)
	return a, err == nil
}

// action returns the action that name names.
func (mux *Mux) action(name string) (Action, error) {
	i := strings.LastIndexByte(name, '#')
	if i < 0 {
		return nil, fmt.Errorf("route: action %q is not a route's action (no \"#\")", name)
	}
	n, err := strconv.Atoi(name[i+1:])
	mux.mu.RLock()
	r := mux.routes[name[:i]]
	mux.mu.RUnlock()
	if err != nil || r == nil || n < 1 || n > len(r.actions) {
		return nil, fmt.Errorf("route: no action %q in the routes (changed since the message was queued?)", name)
	}
	return r.actions[n-1], nil
}
