package pgtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// binDir returns the directory of the installed initdb and postgres:
// "pg_config --bindir" when it names one that has them, else the newest
// /usr/lib/postgresql/*/bin (Debian's layout, where pg_config may belong to
// another version or be missing).
var binDir = sync.OnceValues(func() (string, error) {
	has := func(dir string) bool {
		for _, name := range []string{"initdb", "postgres"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				return false
			}
		}
		return true
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); has(dir) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Newest version first: "9.6" < "15" needs a numeric order.
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, dir := range dirs {
		if has(dir) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("pgtest: PostgreSQL is not installed: no initdb and postgres in \"pg_config --bindir\" or /usr/lib/postgresql/*/bin (Debian package postgresql, which .ci/run installs)")
})

// versionOf returns the major version in a path /usr/lib/postgresql/V/bin
// as a number, 0 if it has none.
func versionOf(dir string) float64 {
	var v float64
	fmt.Sscanf(filepath.Base(filepath.Dir(dir)), "%g", &v)
	return v
}
