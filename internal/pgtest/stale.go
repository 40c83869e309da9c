package pgtest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ownmx/ownmx/internal/proc"
)

const (
	// dirPrefix starts the name of every cluster's directory in
	// os.TempDir().
	dirPrefix = "pgtest-"
	// ownerName is the file in a cluster's directory that names the test
	// process that made it, as "pid:starttime".
	ownerName = "owner"
	// orphanAge is how old a cluster's directory without an owner file
	// must be to be removed: one whose test died between making it and
	// writing the file, rather than one being made now.
	orphanAge = time.Hour
)

// self is this process, as an owner file names it.
var self = sync.OnceValues(func() (process, error) {
	st, err := proc.ReadStat(os.Getpid())
	if err != nil {
		return process{}, fmt.Errorf("pgtest: this process's start time: %w", err)
	}
	return process{os.Getpid(), st.StartTime}, nil
})

// writeOwner writes the owner file of cluster directory dir.
func writeOwner(dir string) error {
	p, err := self()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerName), fmt.Appendf(nil, "%d:%d\n", p.pid, p.start), 0o644); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

// readOwner returns the process that dir's owner file names.
func readOwner(dir string) (process, error) {
	b, err := os.ReadFile(filepath.Join(dir, ownerName))
	if err != nil {
		return process{}, err
	}
	var p process
	if _, err := fmt.Sscanf(string(b), "%d:%d", &p.pid, &p.start); err != nil {
		return process{}, fmt.Errorf("pgtest: %s: %q: %w", filepath.Join(dir, ownerName), b, err)
	}
	return p, nil
}

// removeStale removes the clusters in os.TempDir() whose test process died
// without its cleanup (killed by a timeout or SIGKILL), stopping a server
// of theirs that still runs, and reports each one to logf. The
// postmaster's parent-death signal has usually stopped the server already;
// the directory is left behind.
func removeStale(logf func(format string, args ...any)) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, dir := range dirs {
		owner, err := readOwner(dir)
		if os.IsNotExist(err) {
			if st, err := os.Stat(dir); err != nil || time.Since(st.ModTime()) < orphanAge {
				continue
			}
		} else if err != nil || owner.alive() {
			continue
		}
		if err := stopStale(filepath.Join(dir, "data")); err != nil {
			logf("pgtest: the cluster in %s, whose test process died: %v", dir, err)
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			logf("pgtest: removing the cluster in %s, whose test process died: %v", dir, err)
			continue
		}
		logf("pgtest: removed the cluster in %s, whose test process died", dir)
	}
}

// stopStale stops the postmaster of data directory data, if one runs, as
// "pg_ctl stop -m immediate" does, and waits until it is gone; at
// stopTimeout it is killed.
func stopStale(data string) error {
	pm, ok := runningPostmaster(data)
	if !ok {
		return nil
	}
	if err := syscall.Kill(pm.pid, syscall.SIGQUIT); err != nil {
		return fmt.Errorf("stopping its postgres %d: %w", pm.pid, err)
	}
	return waitGone([]process{pm}, stopTimeout)
}

// runningPostmaster returns the postmaster that data's postmaster.pid
// names, if it runs and is a postgres of that data directory rather than
// a process that got its pid since.
func runningPostmaster(data string) (process, bool) {
	b, err := os.ReadFile(filepath.Join(data, "postmaster.pid"))
	if err != nil {
		return process{}, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		return process{}, false
	}
	st, err := proc.ReadStat(pid)
	if err != nil || st.State == 'Z' {
		return process{}, false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte("\x00"+data+"\x00")) {
		return process{}, false
	}
	return process{pid, st.StartTime}, true
}
