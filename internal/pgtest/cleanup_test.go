package pgtest_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ownmx/ownmx/internal/pgtest"
)

// At the test's cleanup the server's processes are gone and its directory
// removed.
func TestCleanupLeavesNothing(t *testing.T) {
	var dir string
	var procs []proc
	t.Run("user", func(t *testing.T) {
		s := pgtest.Start(t)
		connect(t, s.URL()) // a backend too
		dir = s.Dir()
		procs = serverProcesses(t, dir)
	})
	noneRunning(t, procs)
	gone(t, dir)
}

// Kill leaves no process of the server behind: not the postmaster, and not
// one of its children.
func TestKillLeavesNothing(t *testing.T) {
	s := pgtest.Start(t)
	connect(t, s.URL())
	procs := serverProcesses(t, s.Dir())
	s.Kill(t)
	noneRunning(t, procs)
}

// childEnv, in a child test process's environment, says which part the
// test that started it plays in it.
const childEnv = "PGTEST_CHILD"

// startChild runs this test binary again for test, with childEnv=part,
// and waits until it prints "ready". It returns the child, its stdin and
// the directory of the cluster it made.
func startChild(t *testing.T, test, part string) (*exec.Cmd, io.WriteCloser, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), childEnv+"="+part)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	var out []string
	for sc := bufio.NewScanner(stdout); ; {
		if !sc.Scan() {
			t.Fatalf("the child exited before it was ready: %s", strings.Join(out, "\n"))
		}
		if sc.Text() == "ready" {
			break
		}
		out = append(out, sc.Text())
	}
	go io.Copy(io.Discard, stdout) // until the child exits
	return cmd, stdin, childCluster(t, cmd.Process.Pid)
}

// childCluster returns the directory of the cluster made by process pid.
func childCluster(t *testing.T, pid int) string {
	t.Helper()
	owners, _ := filepath.Glob(filepath.Join(os.TempDir(), "pgtest-*", "owner"))
	for _, o := range owners {
		b, _ := os.ReadFile(o)
		if strings.HasPrefix(string(b), strconv.Itoa(pid)+":") {
			return filepath.Dir(o)
		}
	}
	t.Fatalf("no cluster of process %d in %s", pid, os.TempDir())
	return ""
}

// A test process killed before its cleanup (a timeout, SIGKILL) leaves no
// server running, and the next Start removes its directory.
func TestCrashedRunCleanedUp(t *testing.T) {
	if os.Getenv(childEnv) == "crash" {
		pgtest.Start(t)
		fmt.Println("ready")
		io.Copy(io.Discard, os.Stdin) // until killed
		return
	}
	child, _, dir := startChild(t, "TestCrashedRunCleanedUp", "crash")
	procs := serverProcesses(t, dir)
	child.Process.Kill()
	child.Wait()
	waitGone(t, procs)

	pgtest.Start(t)
	gone(t, dir)
}

// Main stops the cluster of Shared, and removes it, once the tests are
// done.
func TestMainStopsShared(t *testing.T) {
	if os.Getenv(childEnv) == "shared" {
		pgtest.Shared(t)
		fmt.Println("ready")
		io.Copy(io.Discard, os.Stdin) // until the parent has looked
		return
	}
	child, stdin, dir := startChild(t, "TestMainStopsShared", "shared")
	procs := serverProcesses(t, dir)
	stdin.Close()
	if err := child.Wait(); err != nil {
		t.Fatalf("the child's tests: %v", err)
	}
	noneRunning(t, procs)
	gone(t, dir)
}
