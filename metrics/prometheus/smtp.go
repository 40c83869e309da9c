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
	closed      *prometheus.CounterVec
	replies     *prometheus.CounterVec
	refusals    *prometheus.CounterVec
	handler     *prometheus.HistogramVec
	accepted    prometheus.Counter
	size        prometheus.Histogram
	recipients  prometheus.Counter
}

// closeReasons are smtpd's CloseReasons, whose counters start at zero.
var closeReasons = []smtpd.CloseReason{
	smtpd.CloseQuit, smtpd.CloseDisconnect, smtpd.CloseNetwork, smtpd.CloseTimeout,
	smtpd.CloseLimit, smtpd.CloseRefused, smtpd.CloseProtocol, smtpd.CloseShutdown, smtpd.CloseError,
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
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ownmx_smtp_connections_closed_total",
			Help: "SMTP connections ended, by reason (quit, disconnect, network, timeout, limit, refused, protocol, shutdown, error).",
		}, []string{"reason"}),
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ownmx_smtp_replies_total",
			Help: "SMTP replies sent, by command answered and reply class.",
		}, []string{"command", "class"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ownmx_smtp_refusals_total",
			Help: "SMTP replies of code 400 or more, by stage (command) and code.",
		}, []string{"stage", "code"}),
		handler: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ownmx_smtp_handler_duration_seconds",
			Help: "How long the handlers took, by stage (CONNECT, MAIL, RCPT, DATA; DATA includes the transfer).",
			// 1 ms to about a minute: DNS checks take tens of milliseconds,
			// and a DNS timeout seconds.
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
		}, []string{"stage"}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ownmx_smtp_messages_accepted_total",
			Help: "Messages accepted (250 after DATA).",
		}),
		size: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ownmx_smtp_message_size_bytes",
			Help: "Sizes of the messages accepted, in bytes; the sum is the bytes accepted.",
			// 1 KiB to 256 MiB.
			Buckets: prometheus.ExponentialBuckets(1024, 4, 10),
		}),
		recipients: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ownmx_smtp_message_recipients_total",
			Help: "Recipients of the messages accepted.",
		}),
	}
	reg.MustRegister(m.connections, m.open, m.duration, m.closed, m.replies, m.refusals,
		m.handler, m.accepted, m.size, m.recipients)
	for _, r := range closeReasons {
		m.closed.WithLabelValues(string(r))
	}
	return m
}

// Observer returns the smtpd.Observer that feeds these metrics.
func (m *SMTP) Observer() *smtpd.Observer {
	return &smtpd.Observer{
		ConnOpened: func() {
			m.connections.Inc()
			m.open.Inc()
		},
		ConnClosed: func(d time.Duration, reason smtpd.CloseReason) {
			m.open.Dec()
			m.duration.Observe(d.Seconds())
			m.closed.WithLabelValues(string(reason)).Inc()
		},
		Reply: m.reply,
		MessageAccepted: func(size int64, recipients int) {
			m.accepted.Inc()
			m.size.Observe(float64(size))
			m.recipients.Add(float64(recipients))
		},
		Handler: func(stage string, d time.Duration) {
			m.handler.WithLabelValues(stage).Observe(d.Seconds())
		},
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
