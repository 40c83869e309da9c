package postfixtest

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
)

// mailboxOwner returns the user and group that virtual(8) writes the
// Maildir as: nobody when the test runs as root, else the test's own user
// so that it can read the messages.
func mailboxOwner() (uid, gid int, err error) {
	if os.Geteuid() != 0 {
		return os.Geteuid(), os.Getegid(), nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return 0, 0, fmt.Errorf("postfixtest: the Maildir's owner: %w", err)
	}
	uid, err = strconv.Atoi(u.Uid)
	if err != nil {
		return 0, 0, fmt.Errorf("postfixtest: user nobody's uid %q: %w", u.Uid, err)
	}
	gid, err = strconv.Atoi(u.Gid)
	if err != nil {
		return 0, 0, fmt.Errorf("postfixtest: user nobody's gid %q: %w", u.Gid, err)
	}
	return uid, gid, nil
}

// prepareDirs makes the instance's directories: the configuration
// directory, the Maildir base and the queue directory. "postfix start"
// makes the queue's subdirectories and the data directory with the owners
// and modes Postfix requires (post-install create-missing, as "postfix
// check" does) and checks them. Every directory above them must be open to
// the postfix user and to the Maildir's owner.
func prepareDirs(ctx context.Context, r runner, p paths, uid, gid int) error {
	// t.TempDir() makes its directory and the test's one above it 0700.
	for _, d := range []string{p.dir, filepath.Dir(p.dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			return fmt.Errorf("postfixtest: opening %s to Postfix's users: %w", d, err)
		}
	}
	for d := filepath.Dir(filepath.Dir(p.dir)); ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("postfixtest: %w", err)
		}
		if st.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("postfixtest: %s, above the test's directory %s, is closed to other users (mode %v), so Postfix's cannot reach its files: set TMPDIR to a directory such as /tmp", d, p.dir, st.Mode().Perm())
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	if err := os.Mkdir(p.config, 0o755); err != nil {
		return fmt.Errorf("postfixtest: %w", err)
	}
	if err := os.Mkdir(p.mail, 0o700); err != nil {
		return fmt.Errorf("postfixtest: %w", err)
	}
	if r.sudo {
		// Made by root, so that "postfix check" finds it root's.
		_, err := r.run(ctx, "install", "-d", "-o", "root", "-g", "root", "-m", "0755", p.queue)
		return err
	}
	if err := os.Chown(p.mail, uid, gid); err != nil {
		return fmt.Errorf("postfixtest: giving %s to uid %d: %w", p.mail, uid, err)
	}
	if err := os.Mkdir(p.queue, 0o755); err != nil {
		return fmt.Errorf("postfixtest: %w", err)
	}
	return nil
}
