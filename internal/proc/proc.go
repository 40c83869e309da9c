// Package proc reads what tests need of Linux's /proc (proc(5)): a
// process's state, parent, group and start time, the processes that run,
// and a process's environment. internal/pgtest and internal/postfixtest
// use it to find and stop the servers they started.
package proc

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Stat is what the tests need of /proc/PID/stat.
type Stat struct {
	// State is the process's state: 'Z' for a zombie, which has exited
	// and is not yet reaped.
	State byte
	// PPID is the parent's process ID; PGRP the process group's.
	PPID, PGRP int
	// StartTime is when the process started, in clock ticks after boot:
	// with the pid, it names one process.
	StartTime uint64
}

// ReadStat reads /proc/pid/stat.
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Stat{}, err
	}
	// The command name, in parentheses, may hold spaces and parentheses:
	// the fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Stat{}, fmt.Errorf("proc: /proc/%d/stat has no command name: %q", pid, b)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), f[1] field 4 (ppid), f[2] field 5 (pgrp),
	// f[19] field 22 (starttime).
	if len(f) < 20 {
		return Stat{}, fmt.Errorf("proc: /proc/%d/stat has %d fields after the name, want 20 or more", pid, len(f))
	}
	ppid, err1 := strconv.Atoi(f[1])
	pgrp, err2 := strconv.Atoi(f[2])
	start, err3 := strconv.ParseUint(f[19], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return Stat{}, fmt.Errorf("proc: /proc/%d/stat: a field is not a number: %q", pid, f[:20])
	}
	return Stat{State: f[0][0], PPID: ppid, PGRP: pgrp, StartTime: start}, nil
}

// Alive reports whether the process pid that started at startTime still
// runs: it exists, is not a zombie, and is not another process that got
// the same pid.
func Alive(pid int, startTime uint64) bool {
	st, err := ReadStat(pid)
	return err == nil && st.State != 'Z' && st.StartTime == startTime
}

// PIDs returns the ids of the processes in /proc.
func PIDs() ([]int, error) {
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

// Env returns the value of variable name in the environment of process
// pid, which only root may read for another user's process.
func Env(pid int, name string) (string, bool) {
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
