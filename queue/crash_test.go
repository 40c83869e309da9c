package queue

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// logRunner appends "start <attempt>" and "done <attempt>" to a log, and
// fails the first try of every second delivery, so that kills also land
// between tries. durable appends "durable <attempt>" once the queue
// recorded a done delivery on disk.
type logRunner struct {
	mu  sync.Mutex
	log *os.File
}

func (l *logRunner) line(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.log.WriteString(s + "\n"); err != nil {
		panic(err)
	}
}

func (l *logRunner) Run(ctx context.Context, m *Message, a *Attempt) error {
	l.line("start " + a.ID)
	if strings.HasSuffix(a.ID, ".1") && a.Number == 1 {
		return errors.New("first try fails")
	}
	l.line("done " + a.ID)
	return nil
}

func (l *logRunner) durable(id string) { l.line("durable " + id) }

// crashOptions are the options of TestCrash's queues: short real backoffs.
var crashOptions = Options{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Logger: quiet}

// TestCrashHelper is the process that TestCrash kills; it does nothing in
// a normal test run. It runs the queue and adds messages until killed,
// appending the ID of each message whose Add returned to added (flushed).
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv("OWNMX_QUEUE_CRASH")
	if dir == "" {
		t.Skip("helper process for TestCrash")
	}
	logf, err := os.OpenFile(filepath.Join(dir, "log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	added, err := os.OpenFile(filepath.Join(dir, "added"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	opts := crashOptions
	q, err := Open(filepath.Join(dir, "q"), &opts)
	if err != nil {
		t.Fatal(err)
	}
	r := &logRunner{log: logf}
	q.durable = r.durable
	go q.Run(context.Background(), r)
	fmt.Println("ready")
	for i := range 100000 {
		id, err := q.Add(context.Background(), &Envelope{From: "a@example.org"}, []Delivery{{Action: "a"}, {Action: "b"}}, strings.NewReader(fmt.Sprintf("message %d", i)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := added.WriteString(id + "\n"); err != nil {
			t.Fatal(err)
		}
		if err := added.Sync(); err != nil {
			t.Fatal(err)
		}
	}
}

// A process running the queue and adding messages is killed with SIGKILL
// at random moments, 15 times; then a clean run drains the queue. Every
// message whose Add returned had both its deliveries done; no delivery
// ran again after its done record was on disk; a delivery ran more than
// once only under its one attempt ID; tmp/ is empty; and the queue is
// empty for good.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	const kills = 15
	for k := range kills {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestCrashHelper$", "-test.count", "1")
		cmd.Env = append(os.Environ(), "OWNMX_QUEUE_CRASH="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		ready := false
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready = true
				break
			}
		}
		if !ready {
			cmd.Wait()
			t.Fatalf("helper %d did not start", k)
		}
		timer := time.AfterFunc(time.Duration(5+rand.IntN(75))*time.Millisecond, func() { cmd.Process.Signal(syscall.SIGKILL) })
		for sc.Scan() {
			t.Logf("helper %d: %s", k, sc.Text())
		}
		err = cmd.Wait()
		timer.Stop()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("helper %d ended without being killed: %v", k, err)
		}
	}

	// The clean run.
	logf, err := os.OpenFile(filepath.Join(dir, "log"), os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() }) // after the Run that writes it stops
	r := &logRunner{log: logf}
	opts := crashOptions
	qdir := filepath.Join(dir, "q")
	if left := names(t, filepath.Join(qdir, tmpDir)); len(left) > 0 {
		t.Logf("the kills left %d files in tmp/", len(left))
	}
	q := openDir(t, qdir, &opts)
	q.durable = r.durable
	if left := names(t, filepath.Join(qdir, tmpDir)); len(left) != 0 {
		t.Errorf("tmp/ holds %v after Open", left)
	}
	empty := make(chan struct{}, 1)
	q.jobDone = func() {
		q.mu.Lock()
		n := q.sched.len()
		q.mu.Unlock()
		if n == 0 {
			select {
			case empty <- struct{}{}:
			default:
			}
		}
	}
	waiting := q.sched.len()
	stop := run(t, q, r)
	if waiting > 0 {
		select {
		case <-empty:
		case <-time.After(60 * time.Second):
			t.Fatal("the clean run did not drain the queue")
		}
	}
	stop()
	q.Close()

	added := map[string]bool{}
	b, err := os.ReadFile(filepath.Join(dir, "added"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Fields(string(b)) {
		added[l] = true
	}
	b, err = os.ReadFile(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	done, durable, starts := map[string]bool{}, map[string]bool{}, map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		what, aid, _ := strings.Cut(l, " ")
		msg, idx, _ := strings.Cut(aid, ".")
		if _, ok := parseID(msg); !ok || (idx != "0" && idx != "1") {
			t.Errorf("log line %q names no attempt", l)
			continue
		}
		switch what {
		case "start":
			starts[aid]++
			if durable[aid] {
				t.Errorf("%s started again after its done record was on disk", aid)
			}
		case "done":
			done[aid] = true
		case "durable":
			durable[aid] = true
		}
	}
	repeats := 0
	for id := range added {
		for _, i := range []string{".0", ".1"} {
			if !done[id+i] {
				t.Errorf("%s was added but %s%s never got done", id, id, i)
			}
		}
		if starts[id+".0"] > 1 {
			repeats++
		}
	}
	t.Logf("%d kills, %d messages added, %d waiting after them, %d first deliveries run more than once", kills, len(added), waiting, repeats)
	if len(added) == 0 {
		t.Error("no Add returned before the kills")
	}
	for _, d := range []string{tmpDir, queueDir, deadDir} {
		if left := names(t, filepath.Join(qdir, d)); len(left) != 0 {
			t.Errorf("%s/ holds %v after the drain", d, left)
		}
	}

	// Once drained, a further Open and Run have nothing to run.
	q = openDir(t, qdir, &opts)
	if n := q.sched.len(); n != 0 {
		t.Errorf("%d messages waiting after the drain", n)
	}
}
