package pgtest_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// proc names a process: its pid and start time (a pid is reused).
type proc struct {
	pid   int
	start string
}

// stat returns the state, parent and start time of process pid from
// /proc/PID/stat (proc(5)).
func stat(pid int) (state string, ppid int, start string, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, "", err
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	ppid, err = strconv.Atoi(f[1])
	return f[0], ppid, f[19], err
}

// running reports whether p runs: a zombie has exited.
func (p proc) running() bool {
	state, _, start, err := stat(p.pid)
	return err == nil && state != "Z" && start == p.start
}

// serverProcesses returns the postmaster of the cluster in dir, from its
// postmaster.pid, and the postmaster's children, or fails the test.
func serverProcesses(t *testing.T, dir string) []proc {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pm, err := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
	if err != nil {
		t.Fatalf("postmaster.pid: %v", err)
	}
	_, _, start, err := stat(pm)
	if err != nil {
		t.Fatalf("the postmaster %d: %v", pm, err)
	}
	procs := []proc{{pm, start}}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, ppid, start, err := stat(pid); err == nil && ppid == pm {
			procs = append(procs, proc{pid, start})
		}
	}
	// The checkpointer, background writer, WAL writer and others.
	if len(procs) < 4 {
		t.Fatalf("the server in %s has processes %v, want a postmaster and its children", dir, procs)
	}
	return procs
}

// waitGone waits until none of procs runs, or fails the test after a
// while, naming those that still run.
func waitGone(t *testing.T, procs []proc) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		var left []proc
		for _, p := range procs {
			if p.running() {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes %v of the server still run", left)
		}
		<-tick.C
	}
}

// noneRunning fails the test if one of procs runs.
func noneRunning(t *testing.T, procs []proc) {
	t.Helper()
	for _, p := range procs {
		if p.running() {
			t.Errorf("process %d of the server still runs", p.pid)
		}
	}
}

// gone fails the test if path exists.
func gone(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("%s is still there (%v)", path, err)
	}
}
