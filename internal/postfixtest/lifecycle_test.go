package postfixtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ownmx/ownmx/internal/proc"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// TestStopLeavesNothing runs an instance in a subtest that delivers a
// message, so that smtpd, cleanup, qmgr and virtual all run, and leaves a
// session open in the middle of DATA; when the subtest has ended no
// process of the instance is left, its master's pid is gone and its port
// is free.
func TestStopLeavesNothing(t *testing.T) {
	t.Parallel()
	var in *Instance
	var open net.Conn
	defer func() {
		if open != nil {
			open.Close()
		}
	}()
	t.Run("instance", func(t *testing.T) {
		in = Start(t, Options{Domains: []string{"example.com"}})
		if err := smtptest.Send(in.Addr, "s@example.org", []string{"u@example.com"}, "Subject: x\r\n\r\nx\r\n"); err != nil {
			t.Fatal(err)
		}
		in.Wait(t, "u@example.com", 1)
		// A session still open, in the middle of DATA, when the test ends.
		conn, err := net.Dial("tcp", in.Addr)
		if err != nil {
			t.Fatal(err)
		}
		open = conn
		if _, err := io.WriteString(conn, "EHLO client.test\r\nMAIL FROM:<s@example.org>\r\nRCPT TO:<u@example.com>\r\nDATA\r\nSubject: unfinished\r\n"); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(in.timeout))
		for r := bufio.NewReader(conn); ; {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading replies up to DATA's: %v", err)
			}
			if strings.HasPrefix(line, "354 ") {
				break
			}
		}
		if live := livePostfix(t, in.paths.config); len(live) < 3 {
			t.Fatalf("processes of the running instance: %v, want master, qmgr, postlogd and more", live)
		}
		if readMasterPID(in.paths) != in.master {
			t.Fatalf("master.pid holds %d, want %d", readMasterPID(in.paths), in.master)
		}
	})
	if live := livePostfix(t, in.paths.config); len(live) > 0 {
		t.Errorf("processes %v of the instance still run after its test ended", live)
	}
	if st, err := proc.ReadStat(in.master); err == nil && st.State != 'Z' {
		t.Errorf("master %d still runs after the test ended", in.master)
	}
	l, err := net.Listen("tcp4", in.Addr)
	if err != nil {
		t.Errorf("%s is still taken after the test ended: %v", in.Addr, err)
	} else {
		l.Close()
	}
}

// childMode, in the environment of a test process started by a test of
// this file, says what the child does.
const childMode = "POSTFIXTEST_CHILD"

// TestTestProcessEnds ends the test process that started an instance in
// each way it can end, in a child process: the test fails (t.Fatal), it
// panics, or the process is killed (a test timeout, SIGKILL), when no
// cleanup runs, and then maybe its directory is removed too. Afterwards no
// process of the child's instance is left: the cleanup stopped it, or,
// after a kill, the next Start did.
func TestTestProcessEnds(t *testing.T) {
	t.Parallel()
	if mode := os.Getenv(childMode); mode != "" {
		child(t, mode)
		return
	}
	for _, mode := range []string{"fatal", "panic", "kill", "kill, directory removed"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestTestProcessEnds$", "-test.v")
			cmd.Env = append(os.Environ(), childMode+"="+mode)
			out := startChild(t, cmd)
			dir := out.dir(t)
			configDir := filepath.Join(dir, "etc")
			// No Start of a parallel test may stop the instance of a killed
			// child until this test has seen it outlive the child.
			locked := false
			unlock := func() {
				if locked {
					locked = false
					staleMu.Unlock()
				}
			}
			defer unlock()
			killed := strings.HasPrefix(mode, "kill")
			if killed {
				staleMu.Lock()
				locked = true
				if len(livePostfix(t, configDir)) == 0 {
					t.Fatal("the child's instance does not run")
				}
				if err := cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
			}
			output := out.rest()
			err := cmd.Wait()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("child ended with %v, want it to fail; it wrote:\n%s", err, output)
			}
			if killed {
				// The killed child could not remove its directories.
				if mode == "kill, directory removed" {
					os.RemoveAll(filepath.Dir(dir))
				} else {
					t.Cleanup(func() { os.RemoveAll(filepath.Dir(dir)) })
				}
				live := livePostfix(t, configDir)
				unlock()
				if len(live) == 0 {
					t.Fatal("the killed child's instance stopped by itself: nothing left for Start to do")
				}
				Start(t, Options{Domains: []string{"example.com"}})
			}
			if live := livePostfix(t, configDir); len(live) > 0 {
				t.Errorf("processes %v of the child's instance still run after it ended (%v)", live, err)
			}
		})
	}
}

// child is the child process of TestTestProcessEnds: it starts an
// instance, says where, and ends as mode says.
func child(t *testing.T, mode string) {
	in := Start(t, Options{Domains: []string{"example.com"}})
	fmt.Printf("\ndir=%s\n", in.Dir)
	switch mode {
	case "fatal":
		t.Fatal("a test failing after Start")
	case "panic":
		panic("a test panicking after Start")
	case "kill", "kill, directory removed":
		select {
		case <-time.After(time.Minute):
			t.Fatal("not killed within a minute")
		case <-t.Context().Done():
		}
	default:
		t.Fatalf("%s=%q: unknown mode", childMode, mode)
	}
}

// childOutput is what a child process writes, read as it comes.
type childOutput struct {
	dirs chan string   // the directory of the child's instance, once
	done chan struct{} // closed when the child's output has ended
	all  strings.Builder
}

// startChild starts cmd and reads its output, stdout and stderr, in the
// background.
func startChild(t *testing.T, cmd *exec.Cmd) *childOutput {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	err = cmd.Start()
	pw.Close()
	if err != nil {
		pr.Close()
		t.Fatal(err)
	}
	out := &childOutput{dirs: make(chan string, 1), done: make(chan struct{})}
	go func() {
		defer close(out.done)
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "dir="); ok {
				out.dirs <- d
			}
			fmt.Fprintln(&out.all, sc.Text())
		}
	}()
	return out
}

// dir returns the directory of the child's instance, once the child has
// said it; it fails the test if the child ends without saying it.
func (o *childOutput) dir(t *testing.T) string {
	t.Helper()
	select {
	case d := <-o.dirs:
		return d
	case <-o.done:
		select {
		case d := <-o.dirs:
			return d
		default:
		}
		t.Fatalf("the child did not say where its instance is; it wrote:\n%s", o.all.String())
		return ""
	}
}

// rest waits until the child's output ends, when it exits, and returns
// all of it.
func (o *childOutput) rest() string {
	<-o.done
	return o.all.String()
}

// TestNotRootFailsClearly runs a test as user nobody, who is not root and
// may not use sudo: Start fails the test saying what it needs.
func TestNotRootFailsClearly(t *testing.T) {
	t.Parallel()
	if os.Getenv(childMode) == "nonroot" {
		Start(t, Options{Domains: []string{"example.com"}})
		t.Fatal("Start returned for a user who is not root")
	}
	if os.Geteuid() != 0 {
		// Already not root: Start must work through sudo, or fail.
		Start(t, Options{Domains: []string{"example.com"}})
		return
	}
	// nobody needs a copy of the test binary and a TMPDIR it may use.
	dir := t.TempDir()
	os.Chmod(dir, 0o777)
	os.Chmod(filepath.Dir(dir), 0o755)
	bin := filepath.Join(dir, "postfixtest.test")
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-test.run=^TestNotRootFailsClearly$")
	cmd.Env = []string{childMode + "=nonroot", "TMPDIR=" + dir, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), errNotRoot.Error()) {
		t.Errorf("test run as nobody: %v, want it to fail saying %q; it wrote:\n%s", err, errNotRoot, out)
	}
}
