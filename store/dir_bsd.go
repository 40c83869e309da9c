//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package store

// openBeneath opens the directory rel beneath root a component at a time,
// following no symbolic link.
func openBeneath(root dir, rel string, stepwise bool) (dir, error) {
	return openStepwise(root, rel)
}
