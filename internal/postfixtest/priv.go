package postfixtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// postfixCommand is Debian's postfix(1), whose daemons are in
// /usr/lib/postfix/sbin.
const postfixCommand = "/usr/sbin/postfix"

// errNotRoot is why Start fails a test that neither runs as root nor may
// use "sudo -n".
var errNotRoot = errors.New("postfixtest: Postfix must be started as root: run the tests as root, or as a user that may run sudo without a password (sudo -n)")

// runner runs the commands that need root: directly when the test runs as
// root, else through "sudo -n".
type runner struct {
	sudo bool
}

// newRunner returns the runner for this process, or an error wrapping
// errNotRoot when commands cannot run as root.
func newRunner(ctx context.Context) (runner, error) {
	if _, err := os.Stat(postfixCommand); err != nil {
		return runner{}, fmt.Errorf("postfixtest: Postfix is not installed (Debian package postfix, which .ci/run installs): %w", err)
	}
	if os.Geteuid() == 0 {
		return runner{}, nil
	}
	out, err := exec.CommandContext(ctx, "sudo", "-n", "true").CombinedOutput()
	if err != nil {
		return runner{}, fmt.Errorf("%w (sudo -n true: %v %s)", errNotRoot, err, strings.TrimSpace(string(out)))
	}
	return runner{sudo: true}, nil
}

// run runs name with args as root and returns its combined output; the
// error names the command and carries the output.
func (r runner) run(ctx context.Context, name string, args ...string) (string, error) {
	if r.sudo {
		args = append([]string{"-n", name}, args...)
		name = "sudo"
	}
	cmd := exec.CommandContext(ctx, name, args...)
	// A small environment: no MAIL_CONFIG or other Postfix variables of
	// the caller reach the instance.
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("postfixtest: %s %s: %w %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// postfix runs "postfix -c configDir" with args.
func (r runner) postfix(ctx context.Context, configDir string, args ...string) error {
	_, err := r.run(ctx, postfixCommand, append([]string{"-c", configDir}, args...)...)
	return err
}

// kill sends SIGKILL to process pid.
func (r runner) kill(pid int) error {
	if r.sudo {
		_, err := r.run(context.Background(), "kill", "-KILL", strconv.Itoa(pid))
		return err
	}
	return syscall.Kill(pid, syscall.SIGKILL)
}
