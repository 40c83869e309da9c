package pgtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// startTimeout bounds initdb, and a start until the server accepts
	// connections (crash recovery included).
	startTimeout = 60 * time.Second
	// stopTimeout bounds a stop; then the server is killed.
	stopTimeout = 30 * time.Second
	// portTries is how often a first start tries another free port when
	// the one it chose was taken before postgres could bind it.
	portTries = 5
	// superuser is the cluster's superuser, which trusts every
	// connection: the user in URL.
	superuser = "pgtest"
	// logName is the server log's file in the data directory.
	logName = "postgres.log"
)

// cluster is a PostgreSQL cluster in a directory of its own: the data
// directory "data" and the Unix socket are in dir.
type cluster struct {
	dir, data string
	port      int
	acct      account

	mu sync.Mutex
	pm *postmaster // nil while the server is down
}

// newCluster makes a directory under os.TempDir(), runs initdb in it and
// starts the server on a free port of 127.0.0.1. It first removes the
// clusters of test processes that died, reporting each to logf.
func newCluster(ctx context.Context, logf func(format string, args ...any)) (*cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	acct, err := serverAccount()
	if err != nil {
		return nil, err
	}
	if err := acct.reaches(os.TempDir()); err != nil {
		return nil, err
	}
	removeStale(logf)
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	c := &cluster{dir: dir, data: filepath.Join(dir, "data"), acct: acct}
	if err := writeOwner(dir); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := c.init(ctx, bin); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	for try := 1; ; try++ {
		if c.port, err = freePort(); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		c.pm, err = c.start(ctx)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, errNoPort) || try == portTries {
			os.RemoveAll(dir)
			return nil, err
		}
	}
}

// init gives c.dir to the server's account and runs initdb in it.
func (c *cluster) init(ctx context.Context, bin string) error {
	if err := os.Chown(c.dir, c.acct.uid, c.acct.gid); err != nil {
		return fmt.Errorf("pgtest: giving %s to uid %d: %w", c.dir, c.acct.uid, err)
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
		"-D", c.data,
		"-U", superuser,
		"--auth=trust",
		"--encoding=UTF8",
		"--locale=C",
		// The cluster is thrown away with the test: initdb's own files
		// need not reach the disk. The server still syncs its commits.
		"--no-sync",
		"--no-instructions",
	)
	cmd.Dir = c.dir
	cmd.Env = serverEnv(bin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.acct.cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: initdb -D %s as uid %d: %w\n%s", c.data, c.acct.uid, err, out)
	}
	return nil
}

// freePort returns a port of 127.0.0.1 that nothing listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// close stops the server at once, as "pg_ctl stop -m immediate" does, and
// removes its directory.
func (c *cluster) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var err error
	if c.pm != nil {
		err = c.halt(c.pm, syscall.SIGQUIT)
		c.pm = nil
	}
	if rmErr := os.RemoveAll(c.dir); rmErr != nil && err == nil {
		err = fmt.Errorf("pgtest: removing the cluster: %w", rmErr)
	}
	return err
}

// logPath returns the server log's path.
func (c *cluster) logPath() string { return filepath.Join(c.data, logName) }

// logSize returns the server log's size, 0 if it cannot be read.
func (c *cluster) logSize() int64 {
	st, err := os.Stat(c.logPath())
	if err != nil {
		return 0
	}
	return st.Size()
}

// logSince returns the server log from offset on.
func (c *cluster) logSince(offset int64) string {
	f, err := os.Open(c.logPath())
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, offset, 1<<40))
	if err != nil {
		return fmt.Sprintf("(reading the log: %v)", err)
	}
	return strings.TrimRight(string(b), "\n")
}
