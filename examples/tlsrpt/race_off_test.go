//go:build !race

package main

// raceBuild: the test binary has no race detector, nor does the program
// it builds.
const raceBuild = false
