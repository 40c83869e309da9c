package prometheus

import (
	"context"
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

// countTimeout bounds how long a scrape waits for a queue's counts.
const countTimeout = 5 * time.Second

// NewQueueCounts registers with reg the gauge ownmx_queue_messages{state},
// the messages a queue holds: "waiting" (a delivery still pending) and
// "dead" (dead letters). count is called at each scrape, with a context
// that ends after 5 seconds: the Count of an Admin, local
// (queue.Admin.Count, through a function that drops the context) or
// queue/postgres. When it fails, the scrape goes on without the gauge:
// the queue's other metrics and the server's are still served.
func NewQueueCounts(reg prometheus.Registerer, count func(context.Context) (queue.Counts, error)) {
	reg.MustRegister(&queueCounts{count: count, desc: prometheus.NewDesc("ownmx_queue_messages",
		"Messages in the queue, by state: waiting (a delivery still pending) or dead (dead letters).",
		[]string{"state"}, nil)})
}

// queueCounts collects ownmx_queue_messages from a queue at each scrape.
type queueCounts struct {
	count func(context.Context) (queue.Counts, error)
	desc  *prometheus.Desc
}

func (c *queueCounts) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *queueCounts) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), countTimeout)
	defer cancel()
	n, err := c.count(ctx)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n.Waiting), "waiting")
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n.Dead), "dead")
}
