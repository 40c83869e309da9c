package main

import (
	"encoding/json"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDeployFiles checks that the flags the files under deploy/ give the
// inbox are flags it takes, with values it accepts: the OWNMX_ARGS of
// deploy/inbox.env, which the systemd unit passes, and the ENTRYPOINT of
// deploy/Containerfile with the flags of the README's docker run.
func TestDeployFiles(t *testing.T) {
	env, err := os.ReadFile("../../deploy/inbox.env")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^OWNMX_ARGS="([^"]*)"$`).FindSubmatch(env)
	if m == nil {
		t.Fatalf("deploy/inbox.env has no line OWNMX_ARGS=\"...\":\n%s", env)
	}
	if _, err := parseFlags(strings.Fields(string(m[1])), io.Discard); err != nil {
		t.Errorf("the flags of deploy/inbox.env, %s: %v", m[1], err)
	}

	unit, err := os.ReadFile("../../deploy/ownmx-inbox.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"EnvironmentFile=/etc/ownmx/inbox.env", "ExecStart=/usr/local/bin/ownmx-inbox $OWNMX_ARGS", "ExecReload=/bin/kill -HUP $MAINPID", "StateDirectory=ownmx"} {
		if !strings.Contains(string(unit), "\n"+line+"\n") {
			t.Errorf("deploy/ownmx-inbox.service lacks the line %s", line)
		}
	}

	containerfile, err := os.ReadFile("../../deploy/Containerfile")
	if err != nil {
		t.Fatal(err)
	}
	m = regexp.MustCompile(`(?m)^ENTRYPOINT (\[.*\])$`).FindSubmatch(containerfile)
	if m == nil {
		t.Fatal("deploy/Containerfile has no ENTRYPOINT [...]")
	}
	var entry []string
	if err := json.Unmarshal(m[1], &entry); err != nil || len(entry) < 1 {
		t.Fatalf("ENTRYPOINT %s: %v", m[1], err)
	}
	args := append(entry[1:], "-domain", "example.com", "-hostname", "mx.example.com", "-users", "me,tlsrpt",
		"-acme-dir", "/var/lib/ownmx/acme", "-mta-sts", "testing")
	if _, err := parseFlags(args, io.Discard); err != nil {
		t.Errorf("the flags of the Containerfile's ENTRYPOINT and the README's docker run, %q: %v", args, err)
	}
}
