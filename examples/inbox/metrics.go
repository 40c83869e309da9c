package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"path"
	"reflect"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ownmx/ownmx/auth"
	ownprom "github.com/ownmx/ownmx/metrics/prometheus"
	"github.com/ownmx/ownmx/queue"
	"github.com/ownmx/ownmx/route"
	"github.com/ownmx/ownmx/smtpd"
)

// metricsFlag adds -metrics to fs.
func metricsFlag(fs *flag.FlagSet, cfg *config) {
	fs.StringVar(&cfg.metrics, "metrics", "", "serve Prometheus metrics at http://`address`/metrics, such as 127.0.0.1:9125 (default: none)")
}

// metrics is what -metrics serves: the SMTP server's, the authentication
// checks' and the queue's metrics (package metrics/prometheus), and the
// Go runtime's and the process's. A nil *metrics is -metrics off, and its
// hooks are nil.
type metrics struct {
	reg  *prometheus.Registry
	smtp *ownprom.SMTP
	auth *ownprom.Auth
}

// newMetrics makes the metrics of -metrics, or nil without it.
func newMetrics(cfg *config) *metrics {
	if cfg.metrics == "" {
		return nil
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &metrics{reg: reg, smtp: ownprom.NewSMTP(reg), auth: ownprom.NewAuth(reg)}
}

// observer is the SMTP server's Observer.
func (m *metrics) observer() *smtpd.Observer {
	if m == nil {
		return nil
	}
	return m.smtp.Observer()
}

// checked is the auth.Checker's Checked.
func (m *metrics) checked() func(*auth.Results) {
	if m == nil {
		return nil
	}
	return m.auth.Checked
}

// queueObserver is the queue's Observer, which labels each try with the
// kind of its route's action: maildir, webhook or forward.
func (m *metrics) queueObserver(mux *route.Mux) *queue.Observer {
	if m == nil {
		return nil
	}
	return ownprom.NewQueue(m.reg, func(name string) string { return actionKind(mux, name) }).Observer()
}

// queueCounts exports the number of messages in the queue, which count
// gives at each scrape.
func (m *metrics) queueCounts(count func(context.Context) (queue.Counts, error)) {
	if m != nil {
		ownprom.NewQueueCounts(m.reg, count)
	}
}

// actionKind names the kind of the action that a delivery's name stands
// for by the package that made it, as the routes file does: maildir
// (package route's Store; its Drop is never queued), webhook or forward;
// "unknown" when no route has it any more.
func actionKind(mux *route.Mux, name string) string {
	a, ok := mux.Action(name)
	if !ok {
		return "unknown"
	}
	t := reflect.TypeOf(a)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch kind := path.Base(t.PkgPath()); kind {
	case "route":
		return "maildir"
	case "webhook", "forward":
		return kind
	}
	return "other"
}

// serveMetrics serves /metrics on cfg.metrics, if set, until the returned
// function is called.
func (in *inbox) serveMetrics(cfg *config, log *slog.Logger) (stop func(), err error) {
	if in.metrics == nil {
		return func() {}, nil
	}
	l, err := net.Listen("tcp", cfg.metrics)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(in.metrics.reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError)}))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := hs.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			log.Error("serving metrics", "addr", l.Addr().String(), "err", err)
		}
	}()
	log.Info("serving metrics", "addr", l.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
		<-served
	}, nil
}
