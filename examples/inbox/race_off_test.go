//go:build !race

package main

// raceBuild: the test binary has no race detector.
const raceBuild = false
