package pgtest

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// serverUser is the system user the servers run as when the tests run as
// root: the Debian package postgresql makes it.
const serverUser = "postgres"

// account is the user and group that initdb and postgres run as, and that
// own a cluster's directory.
type account struct {
	uid, gid int
	cred     *syscall.Credential // nil: the test's own user
}

// serverAccount returns the postgres user when the test runs as root, since
// postgres refuses to run as root, and else the test's own user.
func serverAccount() (account, error) {
	if os.Geteuid() != 0 {
		return account{uid: os.Geteuid(), gid: os.Getegid()}, nil
	}
	u, err := user.Lookup(serverUser)
	if err != nil {
		return account{}, fmt.Errorf("pgtest: PostgreSQL cannot run as root, and the user %q to run it as is missing (Debian package postgresql makes it): %w", serverUser, err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return account{}, fmt.Errorf("pgtest: user %s's uid %q: %w", serverUser, u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return account{}, fmt.Errorf("pgtest: user %s's gid %q: %w", serverUser, u.Gid, err)
	}
	// No supplementary groups: the server needs none of root's.
	return account{uid: uid, gid: gid, cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}, nil
}

// reaches returns an error unless a's user may pass through dir and every
// directory above it: the server's data and socket are below. When the
// tests run as root, a TMPDIR of root's own (mode 0700) is closed to the
// postgres user.
func (a account) reaches(dir string) error {
	if a.cred == nil {
		return nil
	}
	for d := dir; ; d = filepath.Dir(d) {
		var st syscall.Stat_t
		if err := syscall.Stat(d, &st); err != nil {
			return fmt.Errorf("pgtest: %s: %w", d, err)
		}
		mode := st.Mode
		open := mode&0o001 != 0 ||
			int(st.Uid) == a.uid && mode&0o100 != 0 ||
			int(st.Gid) == a.gid && mode&0o010 != 0
		if !open {
			return fmt.Errorf("pgtest: %s is closed to user %s (mode %04o, owner uid %d), who runs the server in a directory below it: set TMPDIR to a directory such as /tmp", d, serverUser, mode&0o7777, st.Uid)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}
