package pgtest

import (
	"fmt"
	"syscall"
	"time"

	"github.com/ownmx/ownmx/internal/proc"
)

// process names one process: a pid, and its start time in clock ticks
// after boot, since a pid is reused.
type process struct {
	pid   int
	start uint64
}

// childrenOf returns the live children of process pid.
func childrenOf(pid int) []process {
	var children []process
	ids, _ := proc.PIDs()
	for _, id := range ids {
		st, err := proc.ReadStat(id)
		if err == nil && st.PPID == pid && st.State != 'Z' {
			children = append(children, process{id, st.StartTime})
		}
	}
	return children
}

// alive reports whether p still runs; a zombie has exited.
func (p process) alive() bool {
	return proc.Alive(p.pid, p.start)
}

// waitGone waits until none of procs runs, and kills those that still run
// after timeout, returning an error that names them.
func waitGone(procs []process, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		var left []process
		for _, p := range procs {
			if p.alive() {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			for _, p := range left {
				syscall.Kill(p.pid, syscall.SIGKILL)
			}
			return fmt.Errorf("pgtest: processes %v of a killed postgres still ran after %v: killed them", left, timeout)
		}
		<-tick.C
	}
}
