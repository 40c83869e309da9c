package prometheus_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	smtpprom "github.com/ownmx/ownmx/metrics/prometheus"
	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// TestScrapeAfterSessions: after three messages accepted and one recipient
// refused over real SMTP sessions, /metrics scraped over HTTP shows four
// connections, none open, three 2xx replies to DATA and one 550 at RCPT.
func TestScrapeAfterSessions(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := smtpprom.NewSMTP(reg)
	closed := make(chan struct{}, 8)
	obs := m.Observer()
	inner := obs.ConnClosed
	obs.ConnClosed = func(d time.Duration) { inner(d); closed <- struct{}{} }
	srv := &smtpd.Server{
		Hostname: "mx.example.com",
		Logger:   slog.New(slog.DiscardHandler),
		Rcpt:     smtpd.AcceptDomains("example.com"),
		Data: smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
			_, err := io.Copy(io.Discard, r)
			return err
		}),
		Observer: obs,
	}
	addr := smtptest.Start(t, srv)
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

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}
	go hs.Serve(l)
	t.Cleanup(func() { hs.Close() })
	resp, err := http.Get("http://" + l.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
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
	} {
		if got := value(families[c.name], c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// value is the value of the metric of f with labels, or -1 if none.
func value(f *dto.MetricFamily, labels map[string]string) float64 {
	if f == nil {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		}
	}
	return -1
}
