// Package prometheus exports an smtpd.Server's events as Prometheus
// metrics: pass SMTP's Observer to the Server and serve the registry.
//
// Labels are bounded: commands are the verbs smtpd names (others are
// "OTHER"), reply classes are "2xx", "3xx", "4xx" and "5xx", and codes are
// the three digits of the reply.
package prometheus

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ownmx/ownmx/smtpd"
)

// SMTP holds the SMTP server's metrics.
type SMTP struct {
	connections prometheus.Counter
	open        prometheus.Gauge
	duration    prometheus.Histogram
	replies     *prometheus.CounterVec
	refusals    *prometheus.CounterVec
}

// NewSMTP makes the SMTP metrics and registers them with reg.
func NewSMTP(reg prometheus.Registerer) *SMTP {
	m := &SMTP{
		connections: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ownmx_smtp_connections_total",
			Help: "SMTP connections accepted.",
		}),
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ownmx_smtp_connections_open",
			Help: "SMTP connections being served.",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ownmx_smtp_connection_duration_seconds",
			Help:    "How long SMTP connections lasted.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
		}),
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ownmx_smtp_replies_total",
			Help: "SMTP replies sent, by command answered and reply class.",
		}, []string{"command", "class"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ownmx_smtp_refusals_total",
			Help: "SMTP replies of code 400 or more, by stage (command) and code.",
		}, []string{"stage", "code"}),
	}
	reg.MustRegister(m.connections, m.open, m.duration, m.replies, m.refusals)
	return m
}

// Observer returns the smtpd.Observer that feeds these metrics.
func (m *SMTP) Observer() *smtpd.Observer {
	return &smtpd.Observer{
		ConnOpened: func() {
			m.connections.Inc()
			m.open.Inc()
		},
		ConnClosed: func(d time.Duration) {
			m.open.Dec()
			m.duration.Observe(d.Seconds())
		},
		Reply: m.reply,
	}
}

// reply counts one reply.
func (m *SMTP) reply(command string, code int, _ smtpd.EnhancedCode) {
	if code < 200 || code > 599 {
		return
	}
	stage := command
	if stage == "" {
		stage = "CONNECT"
	}
	m.replies.WithLabelValues(stage, strconv.Itoa(code/100)+"xx").Inc()
	if code >= 400 {
		m.refusals.WithLabelValues(stage, strconv.Itoa(code)).Inc()
	}
}
