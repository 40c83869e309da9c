package pgtest

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process names one process: a pid, and its start time in clock ticks
// after boot, since a pid is reused.
type process struct {
	pid   int
	start uint64
}

// procStat is what this package needs of /proc/PID/stat (proc(5)).
type procStat struct {
	state byte // 'Z' for a zombie: exited, not yet reaped
	ppid  int
	start uint64
}

// readStat reads /proc/pid/stat.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// The command name, in parentheses, may hold spaces and parentheses:
	// the fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("pgtest: /proc/%d/stat has no command name: %q", pid, b)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), f[1] field 4 (ppid), f[19] field 22 (starttime).
	if len(f) < 20 {
		return procStat{}, fmt.Errorf("pgtest: /proc/%d/stat has %d fields after the name, want 20 or more", pid, len(f))
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return procStat{}, fmt.Errorf("pgtest: /proc/%d/stat: ppid: %w", pid, err)
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("pgtest: /proc/%d/stat: starttime: %w", pid, err)
	}
	return procStat{state: f[0][0], ppid: ppid, start: start}, nil
}

// pids returns the ids of the processes in /proc.
func pids() []int {
	entries, _ := os.ReadDir("/proc")
	var ids []int
	for _, e := range entries {
		if id, err := strconv.Atoi(e.Name()); err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// childrenOf returns the live children of process pid.
func childrenOf(pid int) []process {
	var children []process
	for _, id := range pids() {
		st, err := readStat(id)
		if err == nil && st.ppid == pid && st.state != 'Z' {
			children = append(children, process{id, st.start})
		}
	}
	return children
}

// alive reports whether p still runs; a zombie has exited.
func (p process) alive() bool {
	st, err := readStat(p.pid)
	return err == nil && st.state != 'Z' && st.start == p.start
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
