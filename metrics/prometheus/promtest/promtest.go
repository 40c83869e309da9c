// Package promtest reads metrics as Prometheus does, for tests: it gets a
// /metrics page over HTTP, parses it with the Prometheus text parser and
// finds the value of one series.
package promtest

import (
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Scrape gets url and parses the page with the Prometheus text parser,
// failing t when the request fails, is not answered 200 or does not
// parse. The families are keyed by metric name.
func Scrape(t testing.TB, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return families
}

// Value is the value of the first series of the metric name whose labels
// include labels, or -1 when there is none. A histogram's value is its
// count; name_sum, for a histogram name, is its sum.
func Value(families map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	f, sum := families[name], false
	if base, ok := strings.CutSuffix(name, "_sum"); ok && f == nil {
		f, sum = families[base], true
	}
next:
	for _, m := range f.GetMetric() {
		have := make(map[string]string, len(m.GetLabel()))
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case sum && m.Histogram != nil:
			return m.GetHistogram().GetSampleSum()
		case sum:
			continue
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return -1
}
