//go:build !linux

package main

import "os/exec"

// dieWithParent does nothing where the kernel cannot kill a child with
// its parent; t.Cleanup still kills it when the tests end normally.
func dieWithParent(cmd *exec.Cmd) {}
