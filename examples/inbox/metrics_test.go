package main

import (
	"net/http"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/ownmx/ownmx/dnsx/dnstest"
	"github.com/ownmx/ownmx/metrics/prometheus/promtest"
)

// servingMetrics matches the log line that says where -metrics listens.
var servingMetrics = regexp.MustCompile(`msg="serving metrics" addr=(\S+)`)

// scrapeMetrics gets s's /metrics over HTTP and parses it with the
// Prometheus text parser.
func scrapeMetrics(t *testing.T, s *server) map[string]*dto.MetricFamily {
	t.Helper()
	m := servingMetrics.FindStringSubmatch(s.log())
	if m == nil {
		t.Fatalf("the inbox did not say where it serves metrics; log:\n%s", s.log())
	}
	return promtest.Scrape(t, "http://"+m[1]+"/metrics")
}

type wantMetric struct {
	name   string
	labels map[string]string
	want   float64
}

func checkMetrics(t *testing.T, families map[string]*dto.MetricFamily, wants []wantMetric) {
	t.Helper()
	for _, w := range wants {
		if got := promtest.Value(families, w.name, w.labels); got != w.want {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.want)
		}
	}
}

// TestMetrics runs the inbox with -metrics, sends it mail over SMTP (a
// message that passes DMARC, one that the sender's p=reject refuses, one
// for an address that has no mailbox) and scrapes /metrics: connections,
// the message accepted and its bytes, replies by class, refusals and the
// DMARC verdicts by policy.
func TestMetrics(t *testing.T) {
	dns := dnstest.NewServer(t, testZone())
	root := filepath.Join(t.TempDir(), "mail")
	s := start(t, "-domain", "inbox.test", "-users", "bob", "-maildir", root,
		"-dns", dns.Addr, "-check-local", "-hostname", "mx.inbox.test", "-metrics", "127.0.0.1:0")
	before := scrapeMetrics(t, s)
	checkMetrics(t, before, []wantMetric{
		{"ownmx_smtp_connections_total", nil, 0},
		{"ownmx_smtp_messages_accepted_total", nil, 0},
	})

	c := dial(t, s.addr)
	good := message("alice@good.example.org", "good", body)
	if err := send(c, "alice@good.example.org", "bob@inbox.test", good); err != nil {
		t.Fatalf("the message that passes DMARC: %v", err)
	}
	err := send(c, "mallory@rej.example.org", "bob@inbox.test", message("mallory@rej.example.org", "rejected", body))
	wantCode(t, "DATA from a p=reject domain that fails", err, 550, "5.7.1")
	err = send(dial(t, s.addr), "alice@good.example.org", "nobody@inbox.test", message("alice@good.example.org", "nobody", body))
	wantCode(t, "RCPT to no mailbox", err, 550, "5.1.1")

	checkMetrics(t, scrapeMetrics(t, s), []wantMetric{
		{"ownmx_smtp_connections_total", nil, 2},
		{"ownmx_smtp_connections_open", nil, 2},
		{"ownmx_smtp_messages_accepted_total", nil, 1},
		{"ownmx_smtp_message_size_bytes", nil, 1},
		{"ownmx_smtp_message_size_bytes_sum", nil, float64(len(good))},
		{"ownmx_smtp_message_recipients_total", nil, 1},
		{"ownmx_smtp_replies_total", map[string]string{"command": "DATA", "class": "2xx"}, 1},
		{"ownmx_smtp_replies_total", map[string]string{"command": "DATA", "class": "3xx"}, 2},
		{"ownmx_smtp_replies_total", map[string]string{"command": "DATA", "class": "5xx"}, 1},
		{"ownmx_smtp_replies_total", map[string]string{"command": "RCPT", "class": "5xx"}, 1},
		{"ownmx_smtp_refusals_total", map[string]string{"stage": "DATA", "code": "550"}, 1},
		{"ownmx_smtp_refusals_total", map[string]string{"stage": "RCPT", "code": "550"}, 1},
		{"ownmx_smtp_handler_duration_seconds", map[string]string{"stage": "MAIL"}, 3},
		{"ownmx_smtp_handler_duration_seconds", map[string]string{"stage": "DATA"}, 2},
		{"ownmx_auth_results_total", map[string]string{"method": "spf", "result": "pass"}, 1},
		{"ownmx_auth_results_total", map[string]string{"method": "spf", "result": "fail"}, 1},
		{"ownmx_auth_results_total", map[string]string{"method": "dkim", "result": "none"}, 2},
		{"ownmx_auth_results_total", map[string]string{"method": "dmarc", "result": "pass"}, 1},
		{"ownmx_auth_results_total", map[string]string{"method": "dmarc", "result": "fail"}, 1},
		{"ownmx_auth_verdicts_total", map[string]string{"verdict": "deliver", "policy": "reject"}, 1},
		{"ownmx_auth_verdicts_total", map[string]string{"verdict": "reject", "policy": "reject"}, 1},
		{"ownmx_auth_unchecked_total", nil, 0},
	})
	if families := scrapeMetrics(t, s); families["go_goroutines"] == nil || families["process_cpu_seconds_total"] == nil {
		t.Error("/metrics lacks the Go runtime's and the process's metrics")
	}
}

// TestMetricsQueue: with -webhook, each delivery of the queue (the
// webhook's and the Maildir's) is counted by kind once it is done.
func TestMetricsQueue(t *testing.T) {
	rcv, setStatus := newSwitchReceiver(t, http.StatusNoContent)
	root := filepath.Join(t.TempDir(), "mail")
	s := start(t, "-domain", "example.com", "-maildir", root, "-hostname", "mx.example.com",
		"-webhook", rcv.url, "-webhook-secret", testSecret, "-log-level", "debug", "-metrics", "127.0.0.1:0")
	if err := send(dial(t, s.addr), "alice@sender.test", "me@example.com", message("alice@sender.test", "queued", body)); err != nil {
		t.Fatal(err)
	}
	posts := rcv.waitFor(20*time.Second, "the POST", func(p []post) bool { return len(p) >= 1 })
	waitDelivered(t, s, posts[0].id)
	checkMetrics(t, scrapeMetrics(t, s), []wantMetric{
		{"ownmx_smtp_messages_accepted_total", nil, 1},
		{"ownmx_auth_unchecked_total", nil, 1}, // a loopback client, trusted
		{"ownmx_queue_tries_total", map[string]string{"kind": "webhook", "outcome": "delivered"}, 1},
		{"ownmx_queue_tries_total", map[string]string{"kind": "maildir", "outcome": "delivered"}, 1},
		{"ownmx_queue_try_duration_seconds", map[string]string{"kind": "webhook"}, 1},
		{"ownmx_queue_messages", map[string]string{"state": "waiting"}, 0},
		{"ownmx_queue_messages", map[string]string{"state": "dead"}, 0},
	})

	// A receiver that answers 410 makes a dead letter; one that answers
	// 503, a message waiting for its next try.
	setStatus(http.StatusGone)
	if err := send(dial(t, s.addr), "alice@sender.test", "me@example.com", message("alice@sender.test", "dead", body)); err != nil {
		t.Fatal(err)
	}
	if s.waitLog(regexp.MustCompile(`msg="queue: message moved to the dead letters"`), 20*time.Second) == nil {
		t.Fatal("no message moved to the dead letters after a 410")
	}
	setStatus(http.StatusServiceUnavailable)
	if err := send(dial(t, s.addr), "alice@sender.test", "me@example.com", message("alice@sender.test", "waiting", body)); err != nil {
		t.Fatal(err)
	}
	if s.waitLog(regexp.MustCompile(`msg="queue: try failed" .*503 Service Unavailable`), 20*time.Second) == nil {
		t.Fatal("no failed try logged after a 503")
	}
	checkMetrics(t, scrapeMetrics(t, s), []wantMetric{
		{"ownmx_queue_messages", map[string]string{"state": "waiting"}, 1},
		{"ownmx_queue_messages", map[string]string{"state": "dead"}, 1},
	})
}
