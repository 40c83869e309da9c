package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// pollInterval is how often a start looks at postmaster.pid again, and a
// stop at the processes it waits for.
const pollInterval = 5 * time.Millisecond

// errNoPort is what start returns when the postmaster exits because its
// port was taken between choosing it and binding it.
var errNoPort = errors.New("pgtest: the port is in use")

// postmaster is one run of postgres(1), a child of the test process, which
// reaps it.
type postmaster struct {
	cmd    *exec.Cmd
	pid    int
	exited chan struct{} // closed once the process has exited and been reaped
	err    error         // the exit status, set before exited is closed
}

// settings returns postgres's command-line settings for cluster c.
func (c *cluster) settings() []string {
	set := []string{
		"listen_addresses=127.0.0.1",
		"unix_socket_directories=" + c.dir,
		// Durability is tested: a commit must reach the disk.
		"fsync=on",
		"synchronous_commit=on",
		"full_page_writes=on",
		// Tests open many connections at once (pools, parallel tests).
		"max_connections=200",
		// Several clusters run at once on a small machine.
		"shared_buffers=16MB",
		// Dynamic shared memory in files of the data directory, which
		// goes with the cluster, not in /dev/shm, where a killed server
		// that is not restarted leaves its segments for good.
		"dynamic_shared_memory_type=mmap",
		"log_line_prefix=%m [%p] %q%u@%d ",
	}
	args := []string{"-D", c.data, "-p", strconv.Itoa(c.port)}
	for _, s := range set {
		args = append(args, "-c", s)
	}
	return args
}

// start runs the postmaster of c and waits until it accepts connections.
// It returns an error wrapping errNoPort when c.port was taken.
func (c *cluster) start(ctx context.Context) (*postmaster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(c.logPath(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pgtest: the server log: %w", err)
	}
	defer logFile.Close() // the child has its own descriptor
	st, err := logFile.Stat()
	if err != nil {
		return nil, fmt.Errorf("pgtest: the server log: %w", err)
	}
	logStart := st.Size()

	cmd := exec.Command(filepath.Join(bin, "postgres"), c.settings()...)
	cmd.Dir = c.dir
	cmd.Env = serverEnv(bin)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: c.acct.cred,
		// Its own process group: a ^C at the terminal reaches the test,
		// whose cleanup stops the server, not the server directly.
		Setpgid: true,
		// Should the test process die without its cleanup (a SIGKILL),
		// the postmaster shuts down at once rather than run on.
		Pdeathsig: syscall.SIGQUIT,
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("pgtest: starting %s: %w", cmd.Path, err)
	}
	p := &postmaster{cmd: cmd, pid: cmd.Process.Pid, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	if err := c.waitReady(ctx, p); err != nil {
		select {
		case <-p.exited:
			log := c.logSince(logStart)
			if strings.Contains(log, "could not bind") || strings.Contains(log, "could not create any TCP/IP sockets") {
				return nil, fmt.Errorf("%w: %d: %s", errNoPort, c.port, log)
			}
			return nil, fmt.Errorf("%w; its log:\n%s", err, log)
		default:
		}
		c.halt(p, syscall.SIGQUIT)
		return nil, fmt.Errorf("%w; its log:\n%s", err, c.logSince(logStart))
	}
	return p, nil
}

// serverEnv returns the environment of initdb and postgres: none of the
// test's PG* variables, and messages in English.
func serverEnv(bin string) []string {
	return []string{"PATH=" + bin + ":/usr/bin:/bin", "LANG=C", "LC_ALL=C"}
}

// waitReady waits until postmaster.pid says that p accepts connections.
func (c *cluster) waitReady(ctx context.Context, p *postmaster) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		if c.ready(p.pid) {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("pgtest: postgres in %s exited while starting: %v", c.data, p.err)
		case <-ctx.Done():
			return fmt.Errorf("pgtest: postgres in %s did not accept connections within %v", c.data, startTimeout)
		case <-tick.C:
		}
	}
}

// ready reports whether postmaster.pid is pid's and says "ready": the
// eighth line, which postgres writes once it accepts connections (what
// "pg_ctl start -w" waits for).
func (c *cluster) ready(pid int) bool {
	b, err := os.ReadFile(filepath.Join(c.data, "postmaster.pid"))
	if err != nil {
		return false
	}
	lines := strings.Split(string(b), "\n")
	return len(lines) >= 8 && strings.TrimSpace(lines[0]) == strconv.Itoa(pid) && strings.TrimSpace(lines[7]) == "ready"
}

// halt sends sig to p's postmaster (SIGINT: fast shutdown, SIGQUIT:
// immediate shutdown; see pg_ctl(1)) and waits for it to exit, which it
// does after its children. At stopTimeout it kills it and its children.
func (c *cluster) halt(p *postmaster, sig syscall.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("pgtest: signalling postgres %d: %w", p.pid, err)
	}
	select {
	case <-p.exited:
		return nil
	case <-time.After(stopTimeout):
		c.crash(p)
		return fmt.Errorf("pgtest: postgres %d in %s still ran %v after %v: killed it", p.pid, c.data, stopTimeout, sig)
	}
}

// crash kills p's postmaster with SIGKILL, as a crash would, and waits
// until it and its children have exited: the children see the postmaster
// die and exit by themselves; those still there at stopTimeout are killed.
// A new postmaster refuses to start while an old child still holds the
// shared memory.
func (c *cluster) crash(p *postmaster) error {
	// Stopped, the postmaster cannot fork a child the list would miss.
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		if errors.Is(err, os.ErrProcessDone) {
			return nil
		}
		return fmt.Errorf("pgtest: stopping postgres %d: %w", p.pid, err)
	}
	children := childrenOf(p.pid)
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("pgtest: killing postgres %d: %w", p.pid, err)
	}
	<-p.exited
	return waitGone(children, stopTimeout)
}
