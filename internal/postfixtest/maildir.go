package postfixtest

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Wait waits until Postfix has delivered n messages to addr and returns
// them in the order they were delivered, as Postfix wrote them: every line
// ending in LF alone, as in Maildir files, and these headers added on top
// of the message as sent:
//
//	Return-Path: <sender@example.org>
//	X-Original-To: addr
//	Delivered-To: addr
//	Received: from HELO-NAME (unknown [CLIENT-IP])
//		by mx.test (Postfix) with ESMTP id 4A1B2C3D4E;
//		Mon, 30 Nov 2026 19:01:32 +0000 (UTC)
//
// ESMTPS in place of ESMTP, with a line "(using TLSv1.3 with cipher ...)",
// when the message came over TLS; UTF8SMTP with SMTPUTF8.
//
// Every recipient's copy goes to one Maildir, mail/inbox under Dir; Wait
// tells addr's copies by their Delivered-To header, ignoring case.
//
// Wait fails the test when more than n messages for addr are there, or
// when fewer than n have come by the instance's timeout (Options.Timeout),
// showing the end of Postfix's log, which says what became of the others.
// n = 0 returns at once: it cannot show that nothing will come. Like
// t.Fatal, Wait must be called from the test's goroutine.
func (in *Instance) Wait(t testing.TB, addr string, n int) [][]byte {
	t.Helper()
	msgs, err := in.wait(addr, n, time.Now().Add(in.timeout))
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// errTooFew is wrapped by wait's error when fewer messages came than
// wanted.
var errTooFew = errors.New("postfixtest: too few messages")

// logTail is how many lines of Postfix's log an error of Wait shows.
const logTail = 20

// wait polls the Maildir until it holds n messages for addr or deadline
// passes.
func (in *Instance) wait(addr string, n int, deadline time.Time) ([][]byte, error) {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || !hasDomain(in.opts.Domains, addr[at+1:]) {
		return nil, fmt.Errorf("postfixtest: Wait for %q: not an address at %q, so Postfix delivers nothing to it", addr, in.opts.Domains)
	}
	if in.opts.Users != nil && !slices.ContainsFunc(in.opts.Users, func(u string) bool { return strings.EqualFold(u, addr) }) {
		return nil, fmt.Errorf("postfixtest: Wait for %q: not one of Options.Users %q, so Postfix refuses it", addr, in.opts.Users)
	}
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		msgs, err := in.messages(addr)
		if err != nil {
			return nil, err
		}
		switch {
		case len(msgs) > n:
			return nil, fmt.Errorf("postfixtest: %d messages delivered to %s, want %d", len(msgs), addr, n)
		case len(msgs) == n:
			return msgs, nil
		case time.Now().After(deadline):
			return nil, fmt.Errorf("%w: %d of %d messages delivered to %s by the deadline; Postfix's log ends:\n%s", errTooFew, len(msgs), n, addr, lastLines(in.Log(), logTail))
		}
		<-tick.C
	}
}

// messages returns the messages delivered to addr so far, in the order
// they came: those in the Maildir whose Delivered-To is addr, ignoring
// case, ordered by modification time and then name.
func (in *Instance) messages(addr string) ([][]byte, error) {
	type file struct {
		path string
		mod  time.Time
	}
	var files []file
	for _, sub := range []string{"new", "cur"} {
		dir := filepath.Join(in.paths.mail, inbox, sub)
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue // nothing delivered yet
		}
		if err != nil {
			return nil, fmt.Errorf("postfixtest: reading the Maildir: %w", err)
		}
		for _, e := range entries {
			info, err := e.Info()
			if err != nil {
				return nil, fmt.Errorf("postfixtest: reading the Maildir: %w", err)
			}
			files = append(files, file{filepath.Join(dir, e.Name()), info.ModTime()})
		}
	}
	slices.SortFunc(files, func(a, b file) int {
		return cmp.Or(a.mod.Compare(b.mod), strings.Compare(a.path, b.path))
	})
	var msgs [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f.path)
		if err != nil {
			return nil, fmt.Errorf("postfixtest: reading a delivered message: %w", err)
		}
		if strings.EqualFold(deliveredTo(b), addr) {
			msgs = append(msgs, b)
		}
	}
	return msgs, nil
}

// deliveredTo returns the value of msg's first Delivered-To header, which
// virtual(8) puts on top of each copy it delivers.
func deliveredTo(msg []byte) string {
	for line := range bytes.Lines(msg) {
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break // end of the header
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if ok && strings.EqualFold(string(name), "Delivered-To") {
			return string(bytes.TrimSpace(value))
		}
	}
	return ""
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.SplitAfter(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "")
}
