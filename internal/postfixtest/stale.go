package postfixtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ownmx/ownmx/internal/proc"
)

// ownerVar names, in the environment of every process of an instance, the
// process that started it: "pid:starttime". Postfix passes it to each of
// its programs because import_environment says so.
const ownerVar = "POSTFIXTEST_OWNER"

// owner returns this process's value of ownerVar.
var owner = sync.OnceValues(func() (string, error) {
	st, err := proc.ReadStat(os.Getpid())
	if err != nil {
		return "", fmt.Errorf("postfixtest: this process's start time: %w", err)
	}
	return fmt.Sprintf("%d:%d", os.Getpid(), st.StartTime), nil
})

// defaultImportEnvironment returns the installed Postfix's default
// import_environment.
var defaultImportEnvironment = sync.OnceValues(func() (string, error) {
	out, err := exec.Command("/usr/sbin/postconf", "-dh", "import_environment").Output()
	if err != nil {
		return "", fmt.Errorf("postfixtest: postconf -dh import_environment: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
})

// importEnvironment returns import_environment for an instance of this
// process: Postfix's default, and ownerVar.
func importEnvironment() (string, error) {
	def, err := defaultImportEnvironment()
	if err != nil {
		return "", err
	}
	o, err := owner()
	if err != nil {
		return "", err
	}
	return def + " " + ownerVar + "=" + o, nil
}

// ownerAlive reports whether the process that an ownerVar value names
// still runs.
func ownerAlive(value string) bool {
	var pid int
	var start uint64
	if _, err := fmt.Sscanf(value, "%d:%d", &pid, &start); err != nil {
		return true // not ours to judge
	}
	return proc.Alive(pid, start)
}

// staleProcess is a process of an instance whose test process has died.
type staleProcess struct {
	pid       int
	configDir string
	master    bool // master(8), leader of the instance's process group
}

// staleProcesses returns the live processes of instances whose owner has
// died.
func staleProcesses() []staleProcess {
	ids, err := proc.PIDs()
	if err != nil {
		return nil
	}
	var stale []staleProcess
	for _, id := range ids {
		o, ok := proc.Env(id, ownerVar)
		if !ok || ownerAlive(o) {
			continue
		}
		st, err := proc.ReadStat(id)
		if err != nil || st.State == 'Z' {
			continue
		}
		configDir, _ := proc.Env(id, "MAIL_CONFIG")
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", id))
		stale = append(stale, staleProcess{id, configDir, strings.TrimSpace(string(comm)) == "master" && st.PGRP == id})
	}
	return stale
}

// stopStale stops each instance whose test process died without stopping
// it (killed by a timeout or SIGKILL, so t.Cleanup never ran), and reports
// each one to logf: with "postfix stop" while its directory is there, else
// by signalling its master, and what is left of it after timeout is
// killed. It needs root to read other processes' environments; through
// sudo it does nothing.
func stopStale(ctx context.Context, r runner, logf func(format string, args ...any), timeout time.Duration) {
	if r.sudo {
		return
	}
	for _, p := range staleProcesses() {
		if !p.master {
			continue
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		var err error
		if _, statErr := os.Stat(p.configDir); statErr == nil {
			err = r.postfix(ctx, p.configDir, "stop")
		} else {
			err = errors.New("its directory is gone")
		}
		if err != nil {
			err = syscall.Kill(p.pid, syscall.SIGTERM) // master stops its group
		}
		if err == nil {
			err = waitGroupGone(ctx, r, p.pid)
		}
		if err != nil {
			logf("postfixtest: stopping the instance in %s (master %d), whose test process died without stopping it: %v", p.configDir, p.pid, err)
			continue
		}
		logf("postfixtest: stopped the instance in %s (master %d), whose test process died without stopping it", p.configDir, p.pid)
	}
	// Processes whose master died before them.
	for _, p := range staleProcesses() {
		logf("postfixtest: killing process %d of the instance in %s, whose test process and master died: %v", p.pid, p.configDir, r.kill(p.pid))
	}
}
