package mtasts_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ownmx/ownmx/dnsx"
	"github.com/ownmx/ownmx/dnsx/dnstest"
	"github.com/ownmx/ownmx/mtasts"
)

// dest is the recipient domain of most tests.
const dest = "dest.test"

// useZone points w's Fetcher at a new DNS server with zoneText, as when
// the domain changes its records. Tests call it between Policy calls.
func (w *world) useZone(t testing.TB, zoneText string) {
	w.dns = dnstest.NewServer(t, zoneText)
	w.f.Resolver = dnsx.NewResolver(w.dns.Addr)
}

// RFC 8461 §3.2, §3.3: the policy is fetched once and used from the cache
// until max_age, then fetched again.
func TestPolicyCachedUntilMaxAge(t *testing.T) {
	w := newWorld(t, zone(stsRecord("dest", "1")), dest)
	w.site.set(dest, policyText(mtasts.Enforce, 3600, "mx1.dest.test", "*.mx.dest.test"))
	p := w.policy(t, dest)
	wantMX(t, p, "mx1.dest.test", "*.mx.dest.test")
	if p.Mode != mtasts.Enforce || p.ID != "1" || p.MaxAge != time.Hour {
		t.Fatalf("policy %+v, want mode enforce, id 1, max_age 1h", p)
	}
	w.wantFetches(t, dest, 1)

	w.site.set(dest, policyText(mtasts.Enforce, 3600, "mx2.dest.test"))
	w.clock.advance(time.Hour - time.Second)
	wantMX(t, w.policy(t, dest), "mx1.dest.test", "*.mx.dest.test")
	w.wantFetches(t, dest, 1)

	w.clock.advance(time.Second)
	wantMX(t, w.policy(t, dest), "mx2.dest.test")
	w.wantFetches(t, dest, 2)
}

// RFC 8461 §3.3: a long-lived policy is fetched again once a day; when
// that fails, the cached policy stays in force until its max_age.
func TestPolicyRefreshedDaily(t *testing.T) {
	const week = 7 * 24 * time.Hour
	w := newWorld(t, zone(stsRecord("dest", "1")), dest)
	w.site.set(dest, policyText(mtasts.Enforce, int(week/time.Second), "mx1.dest.test"))
	wantMX(t, w.policy(t, dest), "mx1.dest.test")

	w.clock.advance(mtasts.RefreshInterval - time.Second)
	wantMX(t, w.policy(t, dest), "mx1.dest.test")
	w.wantFetches(t, dest, 1)
	w.clock.advance(time.Second)
	wantMX(t, w.policy(t, dest), "mx1.dest.test")
	w.wantFetches(t, dest, 2) // refreshed: in force for a week from now

	w.site.set(dest, "") // 404 from now on
	w.clock.advance(mtasts.RefreshInterval)
	wantMX(t, w.policy(t, dest), "mx1.dest.test")
	w.wantFetches(t, dest, 3)
	w.clock.advance(week - mtasts.RefreshInterval - time.Second)
	wantMX(t, w.policy(t, dest), "mx1.dest.test")
	w.wantFetches(t, dest, 4)

	w.clock.advance(time.Second) // a week after the last fetch that worked
	if p := w.policy(t, dest); p != nil {
		t.Fatalf("policy %+v after its max_age, want none", p)
	}
	w.wantFetches(t, dest, 4) // the last failure was a second ago
}

// RFC 8461 §3.1: a new id in the TXT record means a new policy, fetched
// at once however fresh the cached one.
func TestPolicyNewIDRefetches(t *testing.T) {
	w := newWorld(t, zone(stsRecord("dest", "1")), dest)
	w.site.set(dest, policyText(mtasts.Enforce, 86400, "mx1.dest.test"))
	wantMX(t, w.policy(t, dest), "mx1.dest.test")

	w.site.set(dest, policyText(mtasts.Testing, 86400, "mx2.dest.test"))
	wantMX(t, w.policy(t, dest), "mx1.dest.test") // same id: cached
	w.wantFetches(t, dest, 1)

	w.useZone(t, zone(stsRecord("dest", "2")))
	p := w.policy(t, dest)
	wantMX(t, p, "mx2.dest.test")
	if p.ID != "2" || p.Mode != mtasts.Testing {
		t.Fatalf("policy %+v, want id 2 in mode testing", p)
	}
	w.wantFetches(t, dest, 2)
	wantMX(t, w.policy(t, dest), "mx2.dest.test")
	w.wantFetches(t, dest, 2)
}

// RFC 8461 §3.3: when the policy of a new id cannot be fetched, the
// cached policy stays in force; the new id is tried again after
// FailureBackoff.
func TestPolicyNewIDFetchFailsKeepsCached(t *testing.T) {
	w := newWorld(t, zone(stsRecord("dest", "1")), dest)
	w.site.set(dest, policyText(mtasts.Enforce, 86400, "mx1.dest.test"))
	wantMX(t, w.policy(t, dest), "mx1.dest.test")

	w.site.set(dest, "")
	w.useZone(t, zone(stsRecord("dest", "2")))
	p := w.policy(t, dest)
	wantMX(t, p, "mx1.dest.test")
	if p.ID != "1" {
		t.Fatalf("policy id %q, want the cached policy's, 1", p.ID)
	}
	w.wantFetches(t, dest, 2)
	if logs := w.logs.String(); !strings.Contains(logs, "cannot fetch policy") || !strings.Contains(logs, "domain=dest.test") ||
		!strings.Contains(logs, "404") {
		t.Fatalf("log %q does not tell of the failed fetch", logs)
	}

	w.site.set(dest, policyText(mtasts.Enforce, 86400, "mx2.dest.test"))
	w.clock.advance(mtasts.FailureBackoff - time.Second)
	wantMX(t, w.policy(t, dest), "mx1.dest.test")
	w.wantFetches(t, dest, 2)
	w.clock.advance(time.Second)
	wantMX(t, w.policy(t, dest), "mx2.dest.test")
	w.wantFetches(t, dest, 3)
}

// RFC 8461 §3.3: a failing policy host is not asked again for the same id
// before FailureBackoff, and meanwhile the domain has no policy; a new id
// is fetched at once.
func TestPolicyFailureBackoff(t *testing.T) {
	w := newWorld(t, zone(stsRecord("dest", "1")), dest)
	for range 3 {
		if p := w.policy(t, dest); p != nil {
			t.Fatalf("policy %+v from a site that answers 404", p)
		}
	}
	w.wantFetches(t, dest, 1)
	w.clock.advance(mtasts.FailureBackoff - time.Second)
	w.policy(t, dest)
	w.wantFetches(t, dest, 1)
	w.clock.advance(time.Second)
	w.policy(t, dest)
	w.wantFetches(t, dest, 2)

	w.site.set(dest, policyText(mtasts.Enforce, 86400, "mx1.dest.test"))
	w.useZone(t, zone(stsRecord("dest", "2")))
	wantMX(t, w.policy(t, dest), "mx1.dest.test")
	w.wantFetches(t, dest, 3)
}

// RFC 8461 §3.1: a domain without exactly one valid record starting with
// v=STSv1 has no policy, and its policy host is not asked.
func TestPolicyNoUsableRecord(t *testing.T) {
	tests := []struct {
		name    string
		records []string
	}{
		{"no such name", nil},
		{"no TXT record", []string{"_mta-sts.dest IN A 192.0.2.1"}},
		{"no STS record", []string{`_mta-sts.dest IN TXT "v=spf1 -all"`}},
		{"two STS records", []string{stsRecord("dest", "1"), stsRecord("dest", "2")}},
		{"two STS records, one malformed", []string{stsRecord("dest", "1"), `_mta-sts.dest IN TXT "v=STSv1; id=-"`}},
		{"malformed id", []string{`_mta-sts.dest IN TXT "v=STSv1; id=a-b;"`}},
		{"no id", []string{`_mta-sts.dest IN TXT "v=STSv1;"`}},
		{"another version", []string{`_mta-sts.dest IN TXT "v=STSv10; id=1;"`}},
		{"version in lower case", []string{`_mta-sts.dest IN TXT "v=stsv1; id=1;"`}},
		{"record on the parent domain only", []string{`_mta-sts IN TXT "v=STSv1; id=1;"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, zone(tt.records...), dest)
			w.site.set(dest, policyText(mtasts.Enforce, 86400, "mx1.dest.test"))
			if p := w.policy(t, dest); p != nil {
				t.Fatalf("policy %+v, want none", p)
			}
			w.wantFetches(t, dest, 0)
		})
	}
}

// RFC 8461 §3.1: the record may share its name with other TXT records,
// be split in strings, or be reached through a CNAME.
func TestPolicyRecordForms(t *testing.T) {
	tests := []struct {
		name    string
		records []string
	}{
		{"among other TXT records", []string{`_mta-sts.dest IN TXT "v=spf1 -all"`, stsRecord("dest", "1"), `_mta-sts.dest IN TXT "x"`}},
		{"beside a record of another version", []string{`_mta-sts.dest IN TXT "v=STSv10; id=2;"`, stsRecord("dest", "1")}},
		{"in several strings", []string{`_mta-sts.dest IN TXT "v=STSv1; " "id=1;"`}},
		{"through a CNAME", []string{"_mta-sts.dest IN CNAME _mta-sts.provider", stsRecord("provider", "1")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, zone(tt.records...), dest)
			w.site.set(dest, policyText(mtasts.Enforce, 86400, "mx1.dest.test"))
			if p := w.policy(t, dest); p == nil || p.ID != "1" {
				t.Fatalf("policy %+v, want the one of id 1", p)
			}
		})
	}
}

// RFC 8461 §3.3, §8.3: a cached policy stays in force until its max_age
// even when the domain's record disappears.
func TestPolicyRecordGoneKeepsCached(t *testing.T) {
	w := newWorld(t, zone(stsRecord("dest", "1")), dest)
	w.site.set(dest, policyText(mtasts.Enforce, 86400, "mx1.dest.test"))
	wantMX(t, w.policy(t, dest), "mx1.dest.test")

	w.useZone(t, zone())
	w.clock.advance(86400*time.Second - time.Second)
	wantMX(t, w.policy(t, dest), "mx1.dest.test")
	w.wantFetches(t, dest, 1)

	w.clock.advance(time.Second)
	if p := w.policy(t, dest); p != nil {
		t.Fatalf("policy %+v after its max_age without a record, want none", p)
	}
	if n := mtasts.CachedDomains(w.f); n != 0 {
		t.Fatalf("%d domains remembered, want the expired policy forgotten", n)
	}
}

// A temporary DNS failure with no valid cached policy is an error (try
// later: RFC 8461 §5.1); with one, the cached policy (§3.3).
func TestPolicyDNSFailure(t *testing.T) {
	for _, fail := range []string{"SERVFAIL", "REFUSED"} {
		t.Run(fail, func(t *testing.T) {
			w := newWorld(t, zone(stsRecord("dest", "1")), dest)
			w.site.set(dest, policyText(mtasts.Enforce, 3600, "mx1.dest.test"))
			breakDNS := func() {
				if fail == "SERVFAIL" {
					w.dns.ServFail("_mta-sts.dest.test")
				} else {
					w.dns.Refuse("_mta-sts.dest.test")
				}
			}
			wantTemporary := func() {
				t.Helper()
				p, err := w.f.Policy(t.Context(), dest)
				if err == nil || p != nil {
					t.Fatalf("Policy = %+v, %v; want an error", p, err)
				}
				if !dnsx.IsTemporary(err) || !strings.Contains(err.Error(), "_mta-sts record of dest.test") {
					t.Fatalf("error %q is not a temporary DNS failure naming the domain", err)
				}
			}

			breakDNS()
			wantTemporary()
			w.wantFetches(t, dest, 0)

			w.dns.Restore("_mta-sts.dest.test")
			wantMX(t, w.policy(t, dest), "mx1.dest.test")
			breakDNS()
			w.clock.advance(time.Hour - time.Second)
			wantMX(t, w.policy(t, dest), "mx1.dest.test")
			w.wantFetches(t, dest, 1)

			w.clock.advance(time.Second)
			wantTemporary()
		})
	}
}

// RFC 8461 §3.3: a policy that cannot be fetched for any reason leaves the
// domain without a policy, and is logged.
func TestPolicyFetchFailures(t *testing.T) {
	ca := newCA(t)
	good := ca.serverCert(t, "mta-sts.dest.test")
	valid := policyText(mtasts.Enforce, 86400, "mx1.dest.test")
	other := newCA(t)
	tests := []struct {
		name    string
		cert    tls.Certificate
		handler http.Handler
		log     string
	}{
		{"404", good, serve(404, "text/plain", valid), "404 Not Found"},
		{"500", good, serve(500, "text/plain", valid), "500 Internal Server Error"},
		{"204", good, serve(204, "text/plain", ""), "204 No Content"},
		{"200 but not a policy", good, serve(200, "text/plain", "hello\n"), "not a key: value"},
		{"200 but too large", good, serve(200, "text/plain", padTo(valid, mtasts.MaxPolicySize+1)), "larger than"},
		{"redirect 301", good, redirect(301, "/moved"), "forbids following"},
		{"redirect 302", good, redirect(302, "/moved"), "forbids following"},
		{"redirect 303", good, redirect(303, "/moved"), "forbids following"},
		{"redirect 307", good, redirect(307, "/moved"), "forbids following"},
		{"redirect 308", good, redirect(308, "https://mta-sts.dest.test/moved"), "forbids following"},
		{"Content-Type text/html", good, serve(200, "text/html", valid), "text/html"},
		{"Content-Type text/html with charset", good, serve(200, "text/html; charset=utf-8", valid), "not text/plain"},
		{"Content-Type application/octet-stream", good, serve(200, "application/octet-stream", valid), "not text/plain"},
		{"Content-Type application/json", good, serve(200, "application/json", valid), "not text/plain"},
		{"Content-Type text/plainx", good, serve(200, "text/plainx", valid), "not text/plain"},
		{"Content-Type text", good, serve(200, "text", valid), "not text/plain"},
		{"Content-Type malformed", good, serve(200, "text/plain/x", valid), "not text/plain"},
		{"no Content-Type", good, serve(200, "", valid), "not text/plain"},
		{"certificate for another name", ca.serverCert(t, "mta-sts.other.test", "dest.test", "*.test"), serve(200, "text/plain", valid), "certificate"},
		{"certificate from an unknown CA", other.serverCert(t, "mta-sts.dest.test"), serve(200, "text/plain", valid), "certificate"},
		{"expired certificate", ca.leaf(t, time.Now().Add(-2*time.Hour), time.Now().Add(-time.Minute), "mta-sts.dest.test"), serve(200, "text/plain", valid), "certificate"},
		{"certificate not yet valid", ca.leaf(t, time.Now().Add(time.Minute), time.Now().Add(time.Hour), "mta-sts.dest.test"), serve(200, "text/plain", valid), "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var moved atomic.Int32
			mux := http.NewServeMux()
			mux.Handle(wellKnown, tt.handler)
			mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
				moved.Add(1)
				serve(200, "text/plain", valid).ServeHTTP(w, r)
			})
			logs := &logBuffer{}
			f := &mtasts.Fetcher{
				Resolver: dnsx.NewResolver(dnstest.NewServer(t, zone(stsRecord("dest", "1"))).Addr),
				Client:   startHTTPS(t, ca, tt.cert, mux),
				Now:      newClock().Now,
				Logger:   slog.New(slog.NewTextHandler(logs, nil)),
			}
			p, err := f.Policy(t.Context(), dest)
			if p != nil || err != nil {
				t.Fatalf("Policy = %+v, %v; want no policy and no error", p, err)
			}
			if moved.Load() != 0 {
				t.Fatal("the redirect was followed")
			}
			if l := logs.String(); !strings.Contains(l, "cannot fetch policy") || !strings.Contains(l, tt.log) {
				t.Fatalf("log %q does not say %q", l, tt.log)
			}
		})
	}
}

// serve returns a handler that answers status, Content-Type ctype ("" for
// none at all) and body.
func serve(status int, ctype, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ctype == "" {
			w.Header()["Content-Type"] = nil // no sniffing either
		} else {
			w.Header().Set("Content-Type", ctype)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	})
}

// redirect returns a handler that redirects with status to location.
func redirect(status int, location string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, location, status)
	})
}

// RFC 8461 §3.3: a media type of text/plain, whatever its case and
// parameters, is a policy.
func TestPolicyContentTypes(t *testing.T) {
	ca := newCA(t)
	for _, ctype := range []string{
		"text/plain", "text/plain; charset=utf-8", "TEXT/Plain; Charset=US-ASCII", "text/plain;format=flowed",
		"text/plain; charset=iso-8859-1", "text/plain; charset",
	} {
		t.Run(ctype, func(t *testing.T) {
			f := &mtasts.Fetcher{
				Resolver: dnsx.NewResolver(dnstest.NewServer(t, zone(stsRecord("dest", "1"))).Addr),
				Client: startHTTPS(t, ca, ca.serverCert(t, "mta-sts.dest.test"),
					serve(200, ctype, policyText(mtasts.Enforce, 60, "mx1.dest.test"))),
			}
			p, err := f.Policy(t.Context(), dest)
			if err != nil {
				t.Fatal(err)
			}
			wantMX(t, p, "mx1.dest.test")
		})
	}
}

// Concurrent calls for one domain share one fetch.
func TestPolicyConcurrentCallsShareOneFetch(t *testing.T) {
	const n = 32
	w := newWorld(t, zone(stsRecord("dest", "1")), dest)
	w.site.set(dest, policyText(mtasts.Enforce, 86400, "mx1.dest.test"))
	arrived, release := w.site.hold(t)
	waiting := make(chan struct{}, n)
	mtasts.SetWaitHook(w.f, func() { waiting <- struct{}{} })

	var wg sync.WaitGroup
	policies := make([]*mtasts.Policy, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { policies[i], errs[i] = w.f.Policy(t.Context(), dest) })
	}
	deadline := time.After(10 * time.Second)
	for range n - 1 {
		select {
		case <-waiting:
		case <-deadline:
			release()
			wg.Wait()
			t.Fatalf("after 10s, not all %d calls wait for one fetch; the site had %d requests", n, w.site.fetches(dest))
		}
	}
	receive(t, arrived, "fetch at the site")
	release()
	wg.Wait()
	w.wantFetches(t, dest, 1)
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		wantMX(t, policies[i], "mx1.dest.test")
		if i > 0 && policies[i] == policies[0] {
			t.Fatal("two calls got the same *Policy: each must get its own")
		}
	}
}

// A call whose context ends gives up alone: a call that waited for its
// fetch fetches again, and nothing counts as a failure of the site.
func TestPolicyCallerGivesUp(t *testing.T) {
	w := newWorld(t, zone(stsRecord("dest", "1")), dest)
	w.site.set(dest, policyText(mtasts.Enforce, 86400, "mx1.dest.test"))
	arrived, release := w.site.hold(t)
	waiting := make(chan struct{}, 1)
	mtasts.SetWaitHook(w.f, func() { waiting <- struct{}{} })

	ctxA, cancelA := context.WithCancel(t.Context())
	errA := make(chan error, 1)
	go func() {
		_, err := w.f.Policy(ctxA, dest)
		errA <- err
	}()
	receive(t, arrived, "A's fetch at the site")
	type result struct {
		p   *mtasts.Policy
		err error
	}
	resB := make(chan result, 1)
	go func() {
		p, err := w.f.Policy(t.Context(), dest)
		resB <- result{p, err}
	}()
	receive(t, waiting, "B waiting for A's fetch")
	cancelA()
	if err := receive(t, errA, "A's return"); !errors.Is(err, context.Canceled) {
		t.Fatalf("the call whose context ended returned %v, want context.Canceled", err)
	}
	receive(t, arrived, "B's own fetch at the site")
	release()
	b := receive(t, resB, "B's return")
	if b.err != nil {
		t.Fatalf("the waiting call: %v", b.err)
	}
	wantMX(t, b.p, "mx1.dest.test")
	w.wantFetches(t, dest, 2)
}

// receive returns the next value from ch, or fails the test if none comes
// within 10 seconds.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s after 10s", what)
		panic("unreachable")
	}
}

// FetchTimeout bounds a fetch from a site that never answers: the domain
// then has no policy.
func TestPolicyFetchTimeout(t *testing.T) {
	w := newWorld(t, zone(stsRecord("dest", "1")), dest)
	w.site.set(dest, policyText(mtasts.Enforce, 86400, "mx1.dest.test"))
	w.site.hold(t)
	w.f.FetchTimeout = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	p, err := w.f.Policy(ctx, dest)
	if p != nil || err != nil {
		t.Fatalf("Policy = %+v, %v; want no policy and no error", p, err)
	}
	if l := w.logs.String(); !strings.Contains(l, "deadline exceeded") {
		t.Fatalf("log %q does not tell of the timeout", l)
	}
}

// MaxCached bounds the domains remembered, policies and failures alike,
// the least recently used leaving first.
func TestPolicyCacheBound(t *testing.T) {
	const n, max = 30, 8
	var records, domains []string
	for i := range n {
		records = append(records, stsRecord(fmt.Sprintf("d%d", i), "1"))
		domains = append(domains, fmt.Sprintf("d%d.test", i))
	}
	w := newWorld(t, zone(records...), domains...)
	w.f.MaxCached = max
	for i, d := range domains {
		if i%3 != 2 { // every third domain's site answers 404
			w.site.set(d, policyText(mtasts.Enforce, 86400, "mx."+d))
		}
		w.policy(t, d)
		if got := mtasts.CachedDomains(w.f); got > max {
			t.Fatalf("%d domains remembered after %d, want at most %d", got, i+1, max)
		}
	}
	if got := mtasts.CachedDomains(w.f); got != max {
		t.Fatalf("%d domains remembered, want %d", got, max)
	}
	for _, d := range domains[n-max:] {
		w.policy(t, d)
		w.wantFetches(t, d, 1)
	}
	wantMX(t, w.policy(t, domains[0]), "mx.d0.test")
	w.wantFetches(t, domains[0], 2)

	w.f.MaxCached = -1
	for _, d := range domains {
		w.policy(t, d)
	}
	if got := mtasts.CachedDomains(w.f); got != n {
		t.Fatalf("%d domains remembered with MaxCached -1, want all %d", got, n)
	}
}

// The domain is looked up in lower-case A-labels without a final dot,
// whatever its form; a name that is not a domain has no policy.
func TestPolicyDomainForms(t *testing.T) {
	idn := "xn--bcher-kva.test"
	w := newWorld(t, zone(stsRecord("dest", "1"), stsRecord("xn--bcher-kva", "7")), dest, idn)
	w.site.set(dest, policyText(mtasts.Enforce, 86400, "mx1.dest.test"))
	w.site.set(idn, policyText(mtasts.Enforce, 86400, "mx.xn--bcher-kva.test"))
	for _, d := range []string{"dest.test", "DEST.TEST", "dest.test.", "Dest.Test."} {
		wantMX(t, w.policy(t, d), "mx1.dest.test")
	}
	w.wantFetches(t, dest, 1)
	for _, d := range []string{"bücher.test", "BÜCHER.test", idn} {
		if p := w.policy(t, d); p == nil || p.ID != "7" {
			t.Fatalf("Policy(%q) = %+v, want the policy of %s", d, p, idn)
		}
	}
	w.wantFetches(t, idn, 1)
	for _, d := range []string{"", ".", "..", "a..test", ".dest.test", "dest_x.test", "-dest.test", strings.Repeat("a", 64) + ".test", "dest test"} {
		if p, err := w.f.Policy(t.Context(), d); p != nil || err != nil {
			t.Fatalf("Policy(%q) = %+v, %v; want no policy and no error", d, p, err)
		}
	}
}

// A policy with max_age 0 is used once and fetched again every time.
func TestPolicyMaxAgeZero(t *testing.T) {
	w := newWorld(t, zone(stsRecord("dest", "1")), dest)
	w.site.set(dest, policyText(mtasts.Enforce, 0, "mx1.dest.test"))
	for i := 1; i <= 3; i++ {
		wantMX(t, w.policy(t, dest), "mx1.dest.test")
		w.wantFetches(t, dest, i)
	}
	if n := mtasts.CachedDomains(w.f); n != 0 {
		t.Fatalf("%d domains remembered, want none", n)
	}
}

// The Policy returned is the caller's: changing it changes no other
// caller's.
func TestPolicyReturnsACopy(t *testing.T) {
	w := newWorld(t, zone(stsRecord("dest", "1")), dest)
	w.site.set(dest, policyText(mtasts.Enforce, 86400, "mx1.dest.test"))
	p := w.policy(t, dest)
	p.MX[0] = "evil.example"
	p.Mode = mtasts.None
	q := w.policy(t, dest)
	wantMX(t, q, "mx1.dest.test")
	if q.Mode != mtasts.Enforce {
		t.Fatalf("mode %s, want enforce", q.Mode)
	}
}
