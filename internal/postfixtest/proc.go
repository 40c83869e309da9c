package postfixtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// pollInterval is how often Wait and the stop of an instance look again.
const pollInterval = 5 * time.Millisecond

// procStat is what Start needs of /proc/PID/stat (proc(5)).
type procStat struct {
	state     byte   // 'Z' for a zombie: exited, not yet reaped
	pgrp      int    // process group
	startTime uint64 // clock ticks after boot: with the pid, names one process
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
		return procStat{}, fmt.Errorf("postfixtest: /proc/%d/stat has no command name: %q", pid, b)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), f[2] field 5 (pgrp), f[19] field 22 (starttime).
	if len(f) < 20 {
		return procStat{}, fmt.Errorf("postfixtest: /proc/%d/stat has %d fields after the name, want 20 or more", pid, len(f))
	}
	pgrp, err := strconv.Atoi(f[2])
	if err != nil {
		return procStat{}, fmt.Errorf("postfixtest: /proc/%d/stat: pgrp: %w", pid, err)
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("postfixtest: /proc/%d/stat: starttime: %w", pid, err)
	}
	return procStat{state: f[0][0], pgrp: pgrp, startTime: start}, nil
}

// pids returns the ids of the processes in /proc.
func pids() ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var ids []int
	for _, e := range entries {
		if id, err := strconv.Atoi(e.Name()); err == nil {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// groupMembers returns the live processes of process group pgrp; zombies
// have exited and are not counted. Postfix's master(8) leads a process
// group of its own, which every daemon it starts is in.
func groupMembers(pgrp int) ([]int, error) {
	ids, err := pids()
	if err != nil {
		return nil, err
	}
	var members []int
	for _, id := range ids {
		st, err := readStat(id)
		if err != nil {
			continue // exited while we looked
		}
		if st.pgrp == pgrp && st.state != 'Z' {
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

// alive reports whether the process pid started at startTime still runs.
func alive(pid int, startTime uint64) bool {
	st, err := readStat(pid)
	return err == nil && st.state != 'Z' && st.startTime == startTime
}

// processEnv returns the value of variable name in the environment of
// process pid, which only root may read for another user's process.
func processEnv(pid int, name string) (string, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return "", false
	}
	for _, kv := range bytes.Split(b, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte(name+"=")); ok {
			return string(v), true
		}
	}
	return "", false
}
