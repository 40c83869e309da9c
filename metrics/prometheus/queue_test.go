package prometheus_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	smtpprom "github.com/ownmx/ownmx/metrics/prometheus"
	"github.com/ownmx/ownmx/metrics/prometheus/promtest"
	"github.com/ownmx/ownmx/queue"
)

// TestQueueTries: a real queue's tries are counted by kind and outcome,
// with their durations: a delivery that succeeds, one that fails for good.
func TestQueueTries(t *testing.T) {
	reg := prometheus.NewRegistry()
	kind := func(action string) string { k, _, _ := strings.Cut(action, "#"); return k }
	m := smtpprom.NewQueue(reg, kind)
	obs := m.Observer()
	tried, inner := make(chan struct{}, 4), obs.Tried
	obs.Tried = func(action string, d time.Duration, state queue.State) { inner(action, d, state); tried <- struct{}{} }
	q, err := queue.Open(filepath.Join(t.TempDir(), "queue"), &queue.Options{Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	runner := queue.RunnerFunc(func(ctx context.Context, msg *queue.Message, a *queue.Attempt) error {
		if strings.HasPrefix(a.Action, "webhook") {
			return queue.Permanent(errors.New("410 gone"))
		}
		return nil
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx, runner) }()
	t.Cleanup(func() {
		cancel()
		<-done
		q.Close()
	})
	env := &queue.Envelope{ID: "tx1", Received: time.Now(), Rcpt: []string{"me@example.com"}}
	dels := []queue.Delivery{{Action: "maildir#1", Rcpt: env.Rcpt}, {Action: "webhook#1", Rcpt: env.Rcpt}}
	if _, err := q.Add(t.Context(), env, dels, bytes.NewReader([]byte("Subject: x\r\n\r\nhi\r\n"))); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case <-tried:
		case <-time.After(10 * time.Second):
			t.Fatal("two tries not reported within 10s")
		}
	}
	families := scrape(t, reg)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"ownmx_queue_tries_total", map[string]string{"kind": "maildir", "outcome": "delivered"}, 1},
		{"ownmx_queue_tries_total", map[string]string{"kind": "webhook", "outcome": "dead"}, 1},
		{"ownmx_queue_tries_total", map[string]string{"kind": "webhook", "outcome": "retry"}, -1},
		{"ownmx_queue_try_duration_seconds", map[string]string{"kind": "maildir"}, 1},
		{"ownmx_queue_try_duration_seconds", map[string]string{"kind": "webhook"}, 1},
	} {
		if got := promtest.Value(families, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// TestQueueCounts: the gauge follows a real queue's waiting messages and
// dead letters, and a count that fails leaves it out of the scrape
// without failing the scrape.
func TestQueueCounts(t *testing.T) {
	reg := prometheus.NewRegistry()
	q, err := queue.Open(filepath.Join(t.TempDir(), "queue"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	admin := q.Admin()
	smtpprom.NewQueueCounts(reg, func(context.Context) (queue.Counts, error) { return admin.Count() })
	env := &queue.Envelope{ID: "tx1", Received: time.Now(), Rcpt: []string{"me@example.com"}}
	for range 2 {
		if _, err := q.Add(t.Context(), env, []queue.Delivery{{Action: "webhook", Rcpt: env.Rcpt}}, strings.NewReader("Subject: x\r\n\r\nhi\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	families := scrape(t, reg)
	for state, want := range map[string]float64{"waiting": 2, "dead": 0} {
		if got := promtest.Value(families, "ownmx_queue_messages", map[string]string{"state": state}); got != want {
			t.Errorf("ownmx_queue_messages{state=%q} = %v, want %v", state, got, want)
		}
	}

	failing := prometheus.NewRegistry()
	smtpprom.NewQueueCounts(failing, func(context.Context) (queue.Counts, error) { return queue.Counts{}, errors.New("database down") })
	up := prometheus.NewCounter(prometheus.CounterOpts{Name: "other_total", Help: "Another metric."})
	failing.MustRegister(up)
	families = scrape(t, failing)
	if _, ok := families["ownmx_queue_messages"]; ok {
		t.Error("a failed count was exported")
	}
	if _, ok := families["other_total"]; !ok {
		t.Error("a failed count hid the other metrics")
	}
}
