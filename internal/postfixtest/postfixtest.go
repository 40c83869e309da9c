package postfixtest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ownmx/ownmx/internal/proc"
)

// DefaultTimeout bounds Start, the stop of an instance and Wait when
// Options.Timeout is zero. It is a guard against a hang, not a measure: an
// instance starts in about half a second, but Postfix's start script runs
// some forty programs, which on a loaded machine has taken ten seconds.
const DefaultTimeout = 30 * time.Second

// Options says what an instance accepts and where it listens.
type Options struct {
	// Domains are the domains Postfix accepts mail for
	// (virtual_mailbox_domains); at least one is needed. Mail for any
	// other domain is refused at RCPT with 554 5.7.1 (relay access
	// denied), so nothing is ever sent on.
	Domains []string
	// Users are the full addresses that exist, each at one of Domains;
	// RCPT of another address at Domains gets 550 5.1.1. Case does not
	// matter. Nil means every address at Domains exists; an empty slice
	// that is not nil, that none does.
	Users []string
	// CertFile and KeyFile are PEM files of a certificate and its key:
	// when set, Postfix offers STARTTLS with them
	// (smtpd_tls_security_level=may) and its Received header says what TLS
	// was used. Empty: STARTTLS is not offered.
	CertFile, KeyFile string
	// Main holds more main.cf settings; each replaces Start's own setting
	// of the same name.
	Main map[string]string
	// IP is the address to listen on, in 127.0.0.0/8. The zero value means
	// an address 127.0.0.x, x ≥ 2, that no other instance of this process
	// listens on.
	IP netip.Addr
	// Port is the port to listen on; zero means a free port.
	Port int
	// Timeout bounds Start, the stop at the end of the test and Wait; zero
	// means DefaultTimeout, 30 seconds.
	Timeout time.Duration
}

// Instance is a Postfix started by Start, running until its test ends.
type Instance struct {
	// Addr is where its SMTP server listens: "127.0.0.x:port".
	Addr string
	// IP and Port are Addr's parts, for DNS records and senders' settings.
	IP   netip.Addr
	Port int
	// Dir holds everything of the instance, under t.TempDir(): etc (its
	// config_directory: main.cf, master.cf), spool (queue_directory),
	// data (data_directory), mail (virtual_mailbox_base) and maillog.
	Dir string

	paths   paths
	opts    Options
	run     runner
	timeout time.Duration
	master  int // pid of master(8), leader of the instance's process group
	release func()
}

// staleMu makes one Start at a time look for stale instances.
var staleMu sync.Mutex

// Start starts a Postfix for the test and stops it when the test ends,
// failing the test if either does not work. It returns when Postfix
// accepts connections at Addr.
func Start(t testing.TB, opts Options) *Instance {
	t.Helper()
	in, err := start(t.Context(), t.TempDir(), opts, t.Logf)
	if in != nil {
		t.Cleanup(func() {
			if err := in.stop(); err != nil {
				t.Error(err)
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// maxStartTries is how many times start tries a new free port when
// another process took the one it found before Postfix bound it.
const maxStartTries = 3

// start starts an instance in dir; when it returns an instance, with or
// without an error, the instance must be stopped.
func start(ctx context.Context, dir string, opts Options, logf func(string, ...any)) (*Instance, error) {
	if err := validate(opts); err != nil {
		return nil, err
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	r, err := newRunner(ctx)
	if err != nil {
		return nil, err
	}
	staleMu.Lock()
	stopStale(ctx, r, logf, timeout)
	staleMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	p := newPaths(dir)
	uid, gid, err := mailboxOwner()
	if err != nil {
		return nil, err
	}
	if err := prepareDirs(ctx, r, p, uid, gid); err != nil {
		return nil, err
	}
	in := &Instance{Dir: dir, paths: p, opts: opts, run: r, timeout: timeout}
	for try := 1; ; try++ {
		addr, release, err := pickAddr(opts.IP, opts.Port)
		if err != nil {
			return nil, err
		}
		if err := writeConfig(p, opts, addr, uid, gid); err != nil {
			release()
			return nil, err
		}
		in.Addr, in.IP, in.Port, in.release = addr.String(), addr.Addr(), int(addr.Port()), release
		err = r.postfix(ctx, p.config, "start")
		if err == nil {
			break
		}
		// A failed start should leave no master running; the stop at the
		// end of the test makes sure.
		in.master = 0
		if pid := readMasterPID(p); pid != 0 {
			if st, err := proc.ReadStat(pid); err == nil && st.State != 'Z' && st.PGRP == pid {
				in.master = pid
			}
		}
		log := in.Log()
		taken := strings.Contains(log, "Address already in use")
		if !taken || opts.Port != 0 || try == maxStartTries {
			return in, fmt.Errorf("postfixtest: starting Postfix in %s on %s: %w\nPostfix's log:\n%s", p.config, addr, err, log)
		}
		release()
		in.release = nil
	}
	if in.master = readMasterPID(p); in.master == 0 {
		return in, fmt.Errorf("postfixtest: Postfix started in %s but left no pid in %s", p.config, filepath.Join(p.queue, "pid", "master.pid"))
	}
	return in, nil
}

// readMasterPID returns the pid in the queue's pid/master.pid, or 0.
func readMasterPID(p paths) int {
	b, err := os.ReadFile(filepath.Join(p.queue, "pid", "master.pid"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return pid
}

// stop stops the instance with "postfix stop" and waits until every
// process of it has exited.
func (in *Instance) stop() error {
	defer func() {
		if in.release != nil {
			in.release()
			in.release = nil
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), in.timeout)
	defer cancel()
	var errs []error
	if err := in.run.postfix(ctx, in.paths.config, "stop"); err != nil && in.master != 0 {
		errs = append(errs, fmt.Errorf("postfixtest: stopping Postfix in %s, which may have stopped before the test ended: %w\nPostfix's log:\n%s", in.paths.config, err, in.Log()))
	}
	if in.master != 0 {
		errs = append(errs, waitGroupGone(ctx, in.run, in.master))
	}
	if in.run.sudo {
		// Root's and postfix's files, which the test's user cannot remove
		// when t.TempDir() is cleaned up.
		_, err := in.run.run(ctx, "rm", "-rf", in.paths.queue, in.paths.data, in.paths.maillog)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Log returns what Postfix has logged so far, from its own maillog_file.
// Postfix's daemons log through postlogd(8), so a line may show a moment
// after the event: wait for what follows from it (Wait), not for the line.
func (in *Instance) Log() string {
	b, err := os.ReadFile(in.paths.maillog)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ""
	case errors.Is(err, fs.ErrPermission) && in.run.sudo:
		out, err := in.run.run(context.Background(), "cat", in.paths.maillog)
		if err != nil {
			return err.Error()
		}
		return out
	case err != nil:
		return fmt.Sprintf("postfixtest: reading Postfix's log: %v", err)
	}
	return string(b)
}
