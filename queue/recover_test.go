package queue

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// Open finishes or undoes every half-done state that a crash can leave,
// at each step of each move (see recover): afterwards each message is
// whole in one place, with its state beside it, and tmp/ is empty.
func TestOpenRecovers(t *testing.T) {
	const id = "0000000000000001"
	st := func(s State) string {
		b, _ := json.Marshal(&state{Deliveries: []deliveryState{{State: s, Tries: 1, Error: "e"}}})
		return string(b)
	}
	h, _ := json.Marshal(&header{Deliveries: []Delivery{{Action: "a"}}})
	msg := string(h) + "\nbody"
	type files map[string]string // path under the root -> content
	cases := []struct {
		name      string
		before    files
		after     []string // paths left
		scheduled bool
	}{
		{"add: written, not renamed", files{"tmp/" + id: msg}, nil, false},
		{"state: written, not renamed", files{"queue/" + id: msg, "tmp/" + id + ".state": st(Pending)}, []string{"queue/" + id}, true},
		{"to dead: state moved", files{"queue/" + id: msg, "dead/" + id + ".state": st(Dead)}, []string{"dead/" + id, "dead/" + id + ".state"}, false},
		{"to dead: both moved", files{"dead/" + id: msg, "dead/" + id + ".state": st(Dead)}, []string{"dead/" + id, "dead/" + id + ".state"}, false},
		{"replay: new state written", files{"queue/" + id + ".state": st(Pending), "dead/" + id: msg, "dead/" + id + ".state": st(Dead)}, []string{"dead/" + id, "dead/" + id + ".state"}, false},
		{"replay: message moved", files{"queue/" + id: msg, "queue/" + id + ".state": st(Pending), "dead/" + id + ".state": st(Dead)}, []string{"queue/" + id, "queue/" + id + ".state"}, true},
		{"finish: message removed", files{"queue/" + id + ".state": st(Done)}, nil, false},
		{"delete dead: message removed", files{"dead/" + id + ".state": st(Dead)}, nil, false},
		{"finish: done, not removed", files{"queue/" + id: msg, "queue/" + id + ".state": st(Done)}, []string{"queue/" + id, "queue/" + id + ".state"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "q")
			for _, d := range []string{tmpDir, queueDir, deadDir} {
				os.MkdirAll(filepath.Join(root, d), 0o700)
			}
			for p, content := range c.before {
				if err := os.WriteFile(filepath.Join(root, p), []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			q := openDir(t, root, nil)
			var left []string
			for _, d := range []string{tmpDir, queueDir, deadDir} {
				for _, n := range names(t, filepath.Join(root, d)) {
					left = append(left, d+"/"+n)
				}
			}
			slices.Sort(left)
			if !slices.Equal(left, c.after) {
				t.Errorf("after Open: %v, want %v", left, c.after)
			}
			if got := q.sched.len() == 1; got != c.scheduled {
				t.Errorf("scheduled: %v, want %v", got, c.scheduled)
			}
		})
	}
}

// A message whose deliveries were all done before a crash is finished by
// the next Run without running anything.
func TestRunFinishesDoneMessage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "q")
	q := openDir(t, dir, nil)
	id := add(t, q, "x", "a")
	st := &state{Since: time.Now(), Deliveries: []deliveryState{{State: Done, Tries: 1}}}
	if err := writeState(dir, queueDir, id, st, nil, false); err != nil {
		t.Fatal(err)
	}
	q.Close()
	q = openDir(t, dir, nil)
	wait := settled(q)
	run(t, q, RunnerFunc(func(ctx context.Context, m *Message, a *Attempt) error {
		t.Errorf("ran %s", a.ID)
		return nil
	}))
	wait(t, 1)
	if n := names(t, filepath.Join(dir, queueDir)); len(n) != 0 {
		t.Errorf("queue/ holds %v", n)
	}
}
