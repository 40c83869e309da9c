package prometheus_test

import (
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	smtpprom "github.com/ownmx/ownmx/metrics/prometheus"
	"github.com/ownmx/ownmx/metrics/prometheus/promtest"
	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// TestScrapeAfterSessions: after three messages accepted and one recipient
// refused over real SMTP sessions, /metrics scraped over HTTP shows four
// connections, none open, three ended by QUIT, three 2xx replies to DATA and
// one 550 at RCPT, three messages accepted with their bytes and
// recipients, and the time of each handler call.
func TestScrapeAfterSessions(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := smtpprom.NewSMTP(reg)
	closed := make(chan struct{}, 8)
	obs := m.Observer()
	inner := obs.ConnClosed
	obs.ConnClosed = func(d time.Duration, r smtpd.CloseReason) { inner(d, r); closed <- struct{}{} }
	addr := smtptest.Start(t, discardServer(obs))
	for i := range 3 {
		if err := smtptest.Send(addr, "a@sender.example", []string{"b@example.com"}, fmt.Sprintf("Subject: %d\r\n\r\nhi\r\n", i)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if err := smtptest.Send(addr, "a@sender.example", []string{"b@elsewhere.example"}, "Subject: x\r\n\r\nhi\r\n"); err == nil {
		t.Fatal("send to a foreign domain succeeded")
	}
	for i := range 4 {
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d connections closed after 10s", i)
		}
	}

	families := scrape(t, reg)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"ownmx_smtp_connections_total", nil, 4},
		{"ownmx_smtp_connections_open", nil, 0},
		{"ownmx_smtp_replies_total", map[string]string{"command": "DATA", "class": "2xx"}, 3},
		{"ownmx_smtp_replies_total", map[string]string{"command": "RCPT", "class": "5xx"}, 1},
		{"ownmx_smtp_refusals_total", map[string]string{"stage": "RCPT", "code": "550"}, 1},
		{"ownmx_smtp_connections_closed_total", map[string]string{"reason": "quit"}, 3},
		{"ownmx_smtp_connections_closed_total", map[string]string{"reason": "disconnect"}, 1}, // Send hangs up after a refusal
		{"ownmx_smtp_connections_closed_total", map[string]string{"reason": "timeout"}, 0},
		{"ownmx_smtp_messages_accepted_total", nil, 3},
		{"ownmx_smtp_message_size_bytes", nil, 3},          // the count
		{"ownmx_smtp_message_size_bytes_sum", nil, 3 * 18}, // "Subject: n\r\n\r\nhi\r\n"
		{"ownmx_smtp_message_recipients_total", nil, 3},
		{"ownmx_smtp_handler_duration_seconds", map[string]string{"stage": "RCPT"}, 4},
		{"ownmx_smtp_handler_duration_seconds", map[string]string{"stage": "DATA"}, 3},
	} {
		if got := promtest.Value(families, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// scrape serves reg's metrics over HTTP on loopback, gets /metrics and
// parses it with the Prometheus text parser.
func scrape(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}
	go hs.Serve(l)
	defer hs.Close()
	return promtest.Scrape(t, "http://"+l.Addr().String()+"/metrics")
}
