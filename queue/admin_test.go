package queue

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAdminHelper is the operator's process of TestAdminOtherProcess; it
// does nothing in a normal test run.
func TestAdminHelper(t *testing.T) {
	spec := os.Getenv("OWNMX_QUEUE_ADMIN") // dir op [id]
	if spec == "" {
		t.Skip("helper process for TestAdminOtherProcess")
	}
	f := strings.Fields(spec)
	a, err := OpenAdmin(f[0])
	if err != nil {
		fmt.Println("error", err)
		return
	}
	ctx := context.Background()
	var out any
	switch f[1] {
	case "list":
		out, err = a.List()
	case "dead":
		out, err = a.Dead()
	case "retry":
		err = a.Retry(ctx, f[2])
	case "retry-all":
		err = a.RetryAll(ctx)
	case "replay":
		err = a.Replay(ctx, f[2])
	case "delete":
		err = a.Delete(ctx, f[2])
	}
	if err != nil {
		fmt.Println("error", err)
		return
	}
	b, _ := json.Marshal(out)
	fmt.Println("ok", string(b))
}

// operator runs an Admin operation in another process and returns its
// answer: "ok <json>" or "error <text>".
func operator(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestAdminHelper$", "-test.count", "1")
	cmd.Env = append(os.Environ(), "OWNMX_QUEUE_ADMIN="+dir+" "+strings.Join(args, " "))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("operator %v: %v", args, err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "ok ") || strings.HasPrefix(l, "error ") {
			return l
		}
	}
	t.Fatalf("operator %v said %q", args, out)
	return ""
}

// operatorList runs list or dead in another process.
func operatorList(t *testing.T, dir, op string) []Info {
	t.Helper()
	out := operator(t, dir, op)
	var infos []Info
	if err := json.Unmarshal([]byte(strings.TrimPrefix(out, "ok ")), &infos); err != nil {
		t.Fatalf("%s: %s", op, out)
	}
	return infos
}

// The operations work from another process while this one runs the queue:
// list, retry, dead, replay and delete, and the running queue takes each
// change in (through the kick file) without a restart. A delete of a
// message whose try is running waits for the try to end.
func TestAdminOtherProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	q := open(t, &Options{MinBackoff: time.Hour, MaxBackoff: time.Hour})
	wait := settled(q)
	kicked := make(chan struct{}, 10)
	q.kicked = func() { kicked <- struct{}{} }
	r := newChanRunner()
	run(t, q, r)
	id := add(t, q, "x", "hook")
	r.next(t)
	r.reply(errors.New("503 busy"))
	wait(t, 1)

	list := operatorList(t, q.root, "list")
	if len(list) != 1 || list[0].ID != id || list[0].From != "a@example.org" || list[0].Size != 1 {
		t.Fatalf("list = %+v", list)
	}
	if d := list[0].Deliveries[0]; d.State != Pending || d.Tries != 1 || d.Error != "503 busy" || d.Next.Before(time.Now().Add(50*time.Minute)) || d.AttemptID != id+".0" {
		t.Errorf("delivery = %+v", d)
	}

	// Retry now: the try comes within the kick poll, not in an hour.
	if out := operator(t, q.root, "retry", id); out != "ok null" {
		t.Fatalf("retry: %s", out)
	}
	c := r.next(t)
	if c.attempt != id+".0" || c.number != 2 {
		t.Errorf("retried try = %+v", c)
	}
	r.reply(Permanent(errors.New("410 gone")))
	wait(t, 1)
	dead := operatorList(t, q.root, "dead")
	if len(dead) != 1 || dead[0].Deliveries[0].State != Dead || dead[0].Deliveries[0].Error != "410 gone" {
		t.Fatalf("dead = %+v", dead)
	}
	if out := operator(t, q.root, "retry", id); !strings.Contains(out, ErrNotFound.Error()) {
		t.Errorf("retry of a dead letter: %s", out)
	}

	// Replay: the same attempt ID runs again.
	if out := operator(t, q.root, "replay", id); out != "ok null" {
		t.Fatalf("replay: %s", out)
	}
	c = r.next(t)
	if c.attempt != id+".0" || c.number != 3 {
		t.Errorf("replayed try = %+v", c)
	}

	// Delete while that try runs: the operator waits for it.
	done := make(chan string, 1)
	go func() { done <- operator(t, q.root, "delete", id) }()
	select {
	case out := <-done:
		t.Fatalf("delete returned while the try ran: %s", out)
	case <-time.After(300 * time.Millisecond): // a wait that must not end: no event to wait for
	}
	r.reply(errors.New("503 busy"))
	if out := <-done; out != "ok null" {
		t.Fatalf("delete: %s", out)
	}
	for {
		select {
		case <-kicked:
		case <-time.After(10 * time.Second):
			t.Fatal("the queue did not take in the kick")
		}
		q.mu.Lock()
		n := q.sched.len()
		q.mu.Unlock()
		if n == 0 {
			break
		}
	}
	if got := names(t, filepath.Join(q.root, queueDir)); len(got) != 0 {
		t.Errorf("queue/ holds %v after delete", got)
	}
	if l := operatorList(t, q.root, "list"); len(l) != 0 {
		t.Errorf("list after delete: %+v", l)
	}
}

// Admin from Queue.Admin changes the running queue at once (no poll).
func TestAdminInProcess(t *testing.T) {
	q := open(t, &Options{MinBackoff: time.Hour, MaxBackoff: time.Hour})
	q.poll = time.Hour
	wait := settled(q)
	r := newChanRunner()
	run(t, q, r)
	a := q.Admin()
	ctx := context.Background()
	id1, id2 := add(t, q, "1", "a"), add(t, q, "2", "a")
	for range 2 {
		r.next(t)
		r.reply(errors.New("e"))
	}
	wait(t, 2)
	if err := a.Retry(ctx, id1); err != nil {
		t.Fatal(err)
	}
	if c := r.next(t); c.id != id1 || c.number != 2 {
		t.Errorf("after Retry: %+v", c)
	}
	r.reply(errors.New("e"))
	wait(t, 1)
	if err := a.RetryAll(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for range 2 {
		c := r.next(t)
		got[c.id] = c.number
		r.reply(Permanent(errors.New("gone")))
	}
	wait(t, 2)
	if got[id1] != 3 || got[id2] != 2 {
		t.Errorf("after RetryAll: %v", got)
	}
	if err := a.Delete(ctx, id2); err != nil {
		t.Fatal(err)
	}
	dead, err := a.Dead()
	if err != nil || len(dead) != 1 || dead[0].ID != id1 {
		t.Fatalf("dead after deleting %s: %+v, %v", id2, dead, err)
	}
	for _, bad := range []string{id2, "nonsense", "../../etc/passwd", ""} {
		for name, op := range map[string]func(context.Context, string) error{"Retry": a.Retry, "Replay": a.Replay, "Delete": a.Delete} {
			if err := op(ctx, bad); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s(%q): %v, want ErrNotFound", name, bad, err)
			}
		}
	}
}
