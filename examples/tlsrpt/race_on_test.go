//go:build race

package main

// raceBuild: the test binary has the race detector, and so does the
// program it builds.
const raceBuild = true
