package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/ownmx/ownmx/dnsx/dnstest"
)

// crashBody returns the body of burst message id: a few KiB, or 300 KiB
// for every seventh one, so that some messages are spooled to a file
// (past smtpd.DefaultSpoolMemory) while they are checked.
func crashBody(id string, i int) string {
	lines := 40 + i%5*30
	if i%7 == 0 {
		lines = 300 << 10 / 64
	}
	var b strings.Builder
	for n := range lines {
		fmt.Fprintf(&b, "%s line %05d %s\r\n", id, n, strings.Repeat("z", 64-len(id)-20))
	}
	return b.String()
}

// messageID finds the id that message put in a stored message.
var messageID = regexp.MustCompile(`\r\nMessage-ID: <([^@>]+)@test\.example>\r\n`)

// TestCrashSafety kills the server with SIGKILL while several clients
// send a burst of messages, five times over on one Maildir. After each
// kill, every message that got 250 is in new/ byte for byte behind the
// fields the server added, every file in new/ is a whole message, the
// spool directory is empty; then leftovers are put in tmp/ and the server
// is started again on the same Maildir, where a fresh message must land.
func TestCrashSafety(t *testing.T) {
	const (
		rounds    = 5
		clients   = 4
		perClient = 50 // a bound: the kill comes long before
	)
	dns := dnstest.NewServer(t, testZone())
	root := filepath.Join(t.TempDir(), "mail")
	args := []string{"-domain", "inbox.test", "-maildir", root, "-dns", dns.Addr, "-check-local", "-hostname", "mx.inbox.test"}
	box := filepath.Join(root, "inbox.test", "bob")
	const from = "alice@good.example.org"

	sent := map[string]string{} // every message sent or begun, by id
	acked := map[string]bool{}  // those answered 250
	planted := map[string]bool{}

	for round := range rounds + 1 {
		s := start(t, args...)

		// The server starts on the Maildir the last one left, leftovers
		// in tmp/ included, and works.
		id := fmt.Sprintf("fresh-%d", round)
		msg := message(from, id, body)
		if err := send(dial(t, s.addr), from, "bob@inbox.test", msg); err != nil {
			t.Fatalf("round %d: fresh message after restart: %v", round, err)
		}
		sent[id], acked[id] = msg, true
		if round == rounds {
			verifyMaildir(t, box, sent, acked, planted)
			break
		}

		killAfter := int64(8 + 4*round)
		b := &burst{from: from, sent: sent, acked: acked}
		n := b.run(s, round, clients, perClient, killAfter)
		if n < killAfter {
			t.Fatalf("round %d: burst ended after %d messages, before the kill at %d", round, n, killAfter)
		}
		stored := verifyMaildir(t, box, sent, acked, planted)
		inFlight, kept := 0, 0
		for id := range sent {
			if strings.HasPrefix(id, fmt.Sprintf("burst-%d-", round)) && !acked[id] {
				inFlight++
				if stored[id] {
					kept++
				}
			}
		}
		t.Logf("round %d: killed after %d messages answered 250, all in new/ and intact; %d were in flight, %d of them stored whole, none in part",
			round, n, inFlight, kept)

		// Leftovers of a writer that died mid-message, as an older
		// server or another program might leave them.
		if err := os.MkdirAll(filepath.Join(box, "tmp"), 0o700); err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("1700000000.M%dP%dQ1.crashed", round, os.Getpid())
		partial := message(from, "partial", "cut off in the mid")
		if err := os.WriteFile(filepath.Join(box, "tmp", name), []byte(partial), 0o600); err != nil {
			t.Fatal(err)
		}
		planted[name] = true
	}
}

// verifyMaildir checks the Maildir box after a crash: each file in new/ is
// a message that was sent, whole, after the fields the server adds, and
// stored once; each message answered 250 is there; tmp/ holds only what
// the test put there; the spool is empty. It returns the ids in new/.
func verifyMaildir(t *testing.T, box string, sent map[string]string, acked, planted map[string]bool) map[string]bool {
	t.Helper()
	stored := map[string]bool{}
	for name, b := range files(t, filepath.Join(box, "new")) {
		m := messageID.FindSubmatch(b)
		if m == nil {
			t.Errorf("new/%s: not one of the messages sent:\n%.300s", name, b)
			continue
		}
		id := string(m[1])
		msg, ok := sent[id]
		if !ok {
			t.Errorf("new/%s: id %s was never sent", name, id)
			continue
		}
		if _, err := splitAdded(b, msg); err != nil {
			t.Errorf("new/%s (%s): %.500v", name, id, err)
		}
		if stored[id] {
			t.Errorf("new/%s: %s stored twice", name, id)
		}
		stored[id] = true
	}
	for id := range acked {
		if !stored[id] {
			t.Errorf("%s was answered 250 but is not in new/", id)
		}
	}
	for name := range files(t, filepath.Join(box, "tmp")) {
		if !planted[name] {
			t.Errorf("tmp/%s: left behind by the server", name)
		}
	}
	if junk := files(t, filepath.Join(box, ".Junk", "new")); len(junk) != 0 {
		t.Errorf("%d messages in .Junk, want none", len(junk))
	}
	spool := files(t, filepath.Join(filepath.Dir(filepath.Dir(box)), spoolDir))
	if len(spool) != 0 {
		t.Errorf("spool holds %d files after the crash", len(spool))
	}
	return stored
}

// burst is a load of messages that ends with a SIGKILL of the server.
type burst struct {
	from  string
	mu    sync.Mutex
	sent  map[string]string // every message sent or begun, by id
	acked map[string]bool   // those answered 250
}

// run sends, from clients sessions at once, perClient messages each
// (ids "burst-<round>-<client>-<n>") to bob@inbox.test, until the server
// is gone; the server is killed with SIGKILL once killAfter messages were
// answered 250. It waits for the process to end and returns how many
// were answered 250.
func (b *burst) run(s *server, round, clients, perClient int, killAfter int64) int64 {
	var n atomic.Int64
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			cl, err := smtp.Dial(s.addr)
			if err != nil {
				return // killed already
			}
			defer cl.Close()
			cl.CommandTimeout, cl.SubmissionTimeout = 10*time.Second, 10*time.Second
			if err := cl.Hello("client.test"); err != nil {
				return
			}
			for i := range perClient {
				id := fmt.Sprintf("burst-%d-%d-%03d", round, c, i)
				msg := message(b.from, id, crashBody(id, i))
				b.mu.Lock()
				b.sent[id] = msg
				b.mu.Unlock()
				if err := send(cl, b.from, "bob@inbox.test", msg); err != nil {
					return // the server is gone
				}
				b.mu.Lock()
				b.acked[id] = true
				b.mu.Unlock()
				if n.Add(1) == killAfter {
					s.cmd.Process.Kill() // SIGKILL, mid-burst
				}
			}
		})
	}
	wg.Wait()
	s.kill()
	return n.Load()
}
