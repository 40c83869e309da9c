package store

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/ownmx/ownmx/smtpd"
)

// killBody is message i of deliverer id in TestKill: sizes from a few bytes
// to 60 KiB, so that kills land mid-write too.
func killBody(id, i int) []byte {
	head := fmt.Sprintf("Subject: %d-%d\r\n\r\n", id, i)
	return append([]byte(head), bytes.Repeat([]byte(fmt.Sprintf("%d.%d;", id, i)), (i%7)*2000)...)
}

// TestKillHelper is the deliverer process of TestKill; it does nothing in a
// normal test run.
func TestKillHelper(t *testing.T) {
	spec := os.Getenv("OWNMX_STORE_KILL_HELPER") // dir,id,named
	if spec == "" {
		t.Skip("helper process for TestKill")
	}
	parts := strings.Split(spec, ",")
	id, _ := strconv.Atoi(parts[1])
	m := &Maildir{Dir: parts[0], named: parts[2] == "named"}
	for i := range 100000 {
		env := &smtpd.Envelope{From: "a@example.org", Rcpt: []string{"me@example.com"}}
		if err := m.Deliver(context.Background(), env, bytes.NewReader(killBody(id, i))); err != nil {
			fmt.Printf("error %v\n", err)
			os.Exit(1)
		}
		fmt.Printf("ok %d\n", i) // only after Deliver returned nil
	}
}

// Processes delivering into one Maildir are killed with SIGKILL, several
// times: every message whose Deliver returned nil is there, byte for byte;
// new/ holds no partial message; two processes never clash on a name; and
// deliveries go on after the kills with whatever was left in tmp/.
// (A killed process keeps its writes in the page cache: this shows the
// order of steps is right, not that fsync is, which takes a power cut.)
func TestKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	for _, mode := range []string{"tmpfile", "named"} {
		t.Run(mode, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "Maildir")
			acked := map[[2]int]bool{}
			const procs, rounds, atLeast = 2, 3, 40
			for round := range rounds {
				var wg sync.WaitGroup
				var mu sync.Mutex
				for p := range procs {
					id := round*procs + p
					cmd := exec.Command(os.Args[0], "-test.run", "^TestKillHelper$", "-test.count", "1")
					cmd.Env = append(os.Environ(), fmt.Sprintf("OWNMX_STORE_KILL_HELPER=%s,%d,%s", dir, id, mode))
					out, err := cmd.StdoutPipe()
					if err != nil {
						t.Fatal(err)
					}
					if err := cmd.Start(); err != nil {
						t.Fatal(err)
					}
					wg.Go(func() {
						sc := bufio.NewScanner(out)
						n := 0
						for sc.Scan() {
							line := sc.Text()
							if i, ok := strings.CutPrefix(line, "ok "); ok {
								k, _ := strconv.Atoi(i)
								mu.Lock()
								acked[[2]int{id, k}] = true
								mu.Unlock()
								if n++; n == atLeast {
									cmd.Process.Signal(syscall.SIGKILL)
								}
							} else if strings.HasPrefix(line, "error") {
								t.Errorf("deliverer %d: %s", id, line)
								cmd.Process.Signal(syscall.SIGKILL)
							}
						}
						cmd.Wait()
						if n < atLeast {
							t.Errorf("deliverer %d stopped after %d messages", id, n)
						}
					})
				}
				wg.Wait()
			}

			// Restart: a delivery works with the leftovers.
			after := []byte("Subject: after\r\n\r\n")
			if err := (&Maildir{Dir: dir}).Deliver(t.Context(), &smtpd.Envelope{}, bytes.NewReader(after)); err != nil {
				t.Fatalf("delivery after the kills: %v", err)
			}

			ents, err := os.ReadDir(filepath.Join(dir, "new"))
			if err != nil {
				t.Fatal(err)
			}
			found := map[[2]int]bool{}
			for _, e := range ents {
				b, err := os.ReadFile(filepath.Join(dir, "new", e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Equal(b, after) {
					continue
				}
				var id, i int
				if _, err := fmt.Sscanf(string(b), "Subject: %d-%d\r\n", &id, &i); err != nil || !bytes.Equal(b, killBody(id, i)) {
					t.Errorf("new/%s holds %d bytes that are not a whole message", e.Name(), len(b))
					continue
				}
				if found[[2]int{id, i}] {
					t.Errorf("message %d-%d is in new/ twice", id, i)
				}
				found[[2]int{id, i}] = true
			}
			for k := range acked {
				if !found[k] {
					t.Errorf("message %d-%d was acknowledged but is not in new/", k[0], k[1])
				}
			}
			left, _ := os.ReadDir(filepath.Join(dir, "tmp"))
			t.Logf("%d messages acknowledged, %d in new/, %d left in tmp/", len(acked), len(found), len(left))
			if mode == "tmpfile" && len(left) != 0 {
				t.Errorf("O_TMPFILE deliveries left %d files in tmp/", len(left))
			}
		})
	}
}
