package prometheus

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ownmx/ownmx/queue"
)

// Queue holds the metrics of a queue's deliveries.
type Queue struct {
	kind     func(action string) string
	tries    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewQueue makes the queue metrics and registers them with reg. kind
// gives the label of a delivery's action (Attempt.Action), such as
// "webhook" or "maildir"; nil labels each try with its action's name,
// which suits a queue of few actions (a route.Mux names its actions by
// their routes).
func NewQueue(reg prometheus.Registerer, kind func(action string) string) *Queue {
	if kind == nil {
		kind = func(action string) string { return action }
	}
	m := &Queue{
		kind: kind,
		tries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ownmx_queue_tries_total",
			Help: "Tries of queued deliveries, by kind of action and outcome: delivered, retry (failed, to be tried again) or dead (failed for good, a dead letter).",
		}, []string{"kind", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ownmx_queue_try_duration_seconds",
			Help: "How long the tries of queued deliveries took, by kind of action.",
			// 1 ms to about a minute.
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
		}, []string{"kind"}),
	}
	reg.MustRegister(m.tries, m.duration)
	return m
}

// outcomes names the state of a delivery after a try.
var outcomes = map[queue.State]string{queue.Done: "delivered", queue.Pending: "retry", queue.Dead: "dead"}

// Observer returns the queue.Observer that feeds these metrics, for
// queue.Options.Observer.
func (m *Queue) Observer() *queue.Observer {
	return &queue.Observer{Tried: func(action string, d time.Duration, state queue.State) {
		kind := m.kind(action)
		m.tries.WithLabelValues(kind, outcomes[state]).Inc()
		m.duration.WithLabelValues(kind).Observe(d.Seconds())
	}}
}
