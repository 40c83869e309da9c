package postfixtest

import (
	"context"
	"fmt"
	"time"

	"github.com/ownmx/ownmx/internal/proc"
)

// pollInterval is how often Wait and the stop of an instance look again.
const pollInterval = 5 * time.Millisecond

// groupMembers returns the live processes of process group pgrp; zombies
// have exited and are not counted. Postfix's master(8) leads a process
// group of its own, which every daemon it starts is in.
func groupMembers(pgrp int) ([]int, error) {
	ids, err := proc.PIDs()
	if err != nil {
		return nil, err
	}
	var members []int
	for _, id := range ids {
		st, err := proc.ReadStat(id)
		if err != nil {
			continue // exited while we looked
		}
		if st.PGRP == pgrp && st.State != 'Z' {
			members = append(members, id)
		}
	}
	return members, nil
}

// waitGroupGone waits until process group pgrp has no live process, and
// kills what remains at the deadline, returning an error that says so.
func waitGroupGone(ctx context.Context, r runner, pgrp int) error {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		members, err := groupMembers(pgrp)
		if err != nil {
			return fmt.Errorf("postfixtest: listing the processes of Postfix's master %d: %w", pgrp, err)
		}
		if len(members) == 0 {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			// Kill by pid, not by group id: the group may be gone, and its
			// id reused, by the time the signal is sent.
			for _, id := range members {
				r.kill(id)
			}
			return fmt.Errorf("postfixtest: processes %v of Postfix's master %d still ran after stop: killed them", members, pgrp)
		}
	}
}
