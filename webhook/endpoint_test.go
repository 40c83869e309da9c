package webhook

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ownmx/ownmx/queue"
)

// TestRetryThenSuccess: a receiver fails three times, then takes the
// message. Each failure is one the queue retries; every try carries the
// same webhook-id and body, a fresh timestamp and a valid signature.
func TestRetryThenSuccess(t *testing.T) {
	failures := []int{http.StatusServiceUnavailable, http.StatusInternalServerError, http.StatusTooManyRequests}
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n < len(failures) {
			w.WriteHeader(failures[n])
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	e := newEndpoint(t, rc.URL)
	var clock atomic.Int64 // seconds after testNow
	e.Now = func() time.Time { return testNow.Add(time.Duration(clock.Add(7)) * time.Second) }
	m, a := newMessage(testRaw), testAttempt()
	for try := range failures {
		a.Number = try + 1
		err := e.Run(t.Context(), m, a)
		if !isRetryable(err) || statusOf(err) != failures[try] {
			t.Fatalf("try %d: %v, want a retryable %d", try+1, err, failures[try])
		}
	}
	a.Number = len(failures) + 1
	if err := e.Run(t.Context(), m, a); err != nil {
		t.Fatalf("last try: %v", err)
	}
	got := rc.got()
	if len(got) != len(failures)+1 {
		t.Fatalf("%d requests, want %d", len(got), len(failures)+1)
	}
	var last int64
	for i, r := range got {
		if id := r.header.Get(HeaderID); id != "m1.0" {
			t.Errorf("try %d: webhook-id %q, want m1.0", i+1, id)
		}
		ts, err := strconv.ParseInt(r.header.Get(HeaderTimestamp), 10, 64)
		if err != nil || ts <= last {
			t.Errorf("try %d: webhook-timestamp %q not after the last try's %d", i+1, r.header.Get(HeaderTimestamp), last)
		}
		last = ts
		if !bytes.Equal(r.body, got[0].body) {
			t.Errorf("try %d: the body differs from the first try's", i+1)
		}
		v := Verifier{Secrets: []string{testSecret}, Now: func() time.Time { return time.Unix(ts, 0) }}
		if err := v.Verify(r.header, r.body); err != nil {
			t.Errorf("try %d: %v", i+1, err)
		}
		if ua := r.header.Get("User-Agent"); ua != userAgent {
			t.Errorf("User-Agent %q", ua)
		}
	}
}

// TestStall: a receiver that never answers costs a retryable error after
// Timeout, and leaves no goroutine behind.
func TestStall(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	e := newEndpoint(t, rc.URL)
	e.Timeout = 300 * time.Millisecond
	// A bound of the test's own, far beyond Timeout, so that a Timeout
	// not applied fails the test rather than hangs it.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	err := e.Run(ctx, newMessage(testRaw), testAttempt())
	took := time.Since(start)
	if !isRetryable(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run: %v, want a retryable timeout", err)
	}
	if !strings.Contains(err.Error(), "no answer within 300ms") {
		t.Errorf("Run: %q does not say the timeout", err)
	}
	if took < e.Timeout || took > e.Timeout+5*time.Second { // 5 s: room for a loaded machine
		t.Errorf("Run took %v with a Timeout of %v", took, e.Timeout)
	}
	close(release)
	rc.Close()
	e.Client.CloseIdleConnections()
	goleak.VerifyNone(t)
}

// TestCancel: a cancelled context ends a request at once, retryably.
func TestCancel(t *testing.T) {
	arrived := make(chan struct{})
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		close(arrived)
		<-r.Context().Done()
	})
	e := newEndpoint(t, rc.URL)
	ctx, cancel := context.WithCancel(t.Context())
	go func() { <-arrived; cancel() }()
	if err := e.Run(ctx, newMessage(testRaw), testAttempt()); !isRetryable(err) || !errors.Is(err, context.Canceled) {
		t.Errorf("Run: %v, want a retryable cancellation", err)
	}
}

// want is what the queue is to do after a status: the rule of the package
// documentation, written out.
func want(code int) string {
	switch {
	case code >= 200 && code <= 299:
		return "done"
	case code == 408 || code == 429:
		return "retry"
	case code >= 400 && code <= 499:
		return "dead"
	default:
		return "retry"
	}
}

// outcomeOf says what err asks the queue to do.
func outcomeOf(err error) string {
	switch {
	case err == nil:
		return "done"
	case queue.IsPermanent(err):
		return "dead"
	default:
		return "retry"
	}
}

// TestStatusClasses runs every status from 200 to 599 through Run and
// checks what the queue is told, with the named codes spelled out.
func TestStatusClasses(t *testing.T) {
	named := map[int]string{
		200: "done", 201: "done", 202: "done", 204: "done", 299: "done",
		300: "retry", 301: "retry", 302: "retry", 303: "retry", 304: "retry", 307: "retry", 308: "retry",
		400: "dead", 401: "dead", 403: "dead", 404: "dead", 405: "dead", 408: "retry", 409: "dead",
		410: "dead", 413: "dead", 415: "dead", 422: "dead", 429: "retry", 499: "dead",
		500: "retry", 501: "retry", 502: "retry", 503: "retry", 504: "retry", 599: "retry",
	}
	var location string // a redirect to a 200 on the same receiver
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		if code >= 300 && code <= 399 {
			w.Header().Set("Location", location)
		}
		w.WriteHeader(code)
	})
	location = strings.Replace(rc.URL, "http://", "http://user:pw@", 1) + "/200?token=SECRET"
	e := newEndpoint(t, rc.URL)
	for code := 200; code <= 599; code++ {
		e := &Endpoint{URL: fmt.Sprintf("%s/%d", rc.URL, code), Secrets: e.Secrets, Client: e.Client, Now: e.Now}
		err := e.Run(t.Context(), newMessage("Subject: x\r\n\r\nx\r\n"), testAttempt())
		got := outcomeOf(err)
		if w, ok := named[code]; ok && got != w {
			t.Errorf("%d: %s, want %s (%v)", code, got, w, err)
		}
		if got != want(code) {
			t.Errorf("%d: %s, want %s (%v)", code, got, want(code), err)
		}
		if err != nil && statusOf(err) != code {
			t.Errorf("%d: error %v carries no StatusError of the code", code, err)
		}
		if code >= 300 && code <= 399 && err != nil {
			if msg := err.Error(); !strings.Contains(msg, "redirects are not followed") ||
				!strings.Contains(msg, rc.URL+"/200)") || strings.Contains(msg, "SECRET") || strings.Contains(msg, "pw") {
				t.Errorf("%d: %q", code, msg)
			}
		}
	}
	if n := len(rc.got()); n != 400 {
		t.Errorf("the receiver got %d requests, want 400: redirects were followed?", n)
	}
}

// TestStatus1xx: a 1xx that is the last thing a receiver says (101, or an
// informational status and then nothing) is retried. net/http's server
// cannot end on a 1xx, so the receiver is a raw TCP one.
func TestStatus1xx(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer l.Close()
	codes := make(chan int, 1)
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			code := <-codes
			br := bufio.NewReader(c)
			req, err := http.ReadRequest(br)
			if err == nil {
				req.Body.Close()
				fmt.Fprintf(c, "HTTP/1.1 %d Informational\r\n\r\n", code)
			}
			c.Close()
		}
	})
	for code := 100; code <= 199; code++ {
		codes <- code
		e := newEndpoint(t, "http://"+l.Addr().String()+"/")
		e.Timeout = 10 * time.Second
		e.Client.Transport.(*http.Transport).DisableKeepAlives = true
		err := e.Run(t.Context(), newMessage("Subject: x\r\n\r\nx\r\n"), testAttempt())
		if !isRetryable(err) {
			t.Errorf("%d: %v, want a retryable error", code, err)
		}
	}
}

// TestRetryAfter: a Retry-After header, in seconds or as a date, becomes
// queue.RetryAfter with its wait, for every retryable status; a permanent
// one stays permanent.
func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		code       int
		retryAfter string
		wait       string // "" for no RetryAfter
		permanent  bool
	}{
		{429, "120", "2m0s", false},
		{429, testNow.Add(90 * time.Second).Format(http.TimeFormat), "1m30s", false},
		{429, "Sat, 01 Jun 2030 12:01:30 GMT", "1m30s", false},   // a day name that is wrong is not read
		{503, "Saturday, 01-Jun-30 12:05:00 GMT", "5m0s", false}, // RFC 850, obsolete yet allowed
		{503, "Sat Jun  1 12:00:10 2030", "10s", false},          // asctime
		{503, "0", "0s", false},
		{503, testNow.Add(-time.Hour).Format(http.TimeFormat), "0s", false},
		{502, "3600", "1h0m0s", false},
		{408, "5", "5s", false},
		{301, "60", "1m0s", false},
		{503, "", "", false},
		{503, "soon", "", false},
		{503, "-5", "", false},
		{503, "1.5", "", false},
		{410, "60", "", true},
		{400, "60", "", true},
	} {
		t.Run(fmt.Sprintf("%d %s", tc.code, tc.retryAfter), func(t *testing.T) {
			rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.WriteHeader(tc.code)
			})
			e := newEndpoint(t, rc.URL)
			err := e.Run(t.Context(), newMessage(testRaw), testAttempt())
			if queue.IsPermanent(err) != tc.permanent || err == nil {
				t.Fatalf("Run: %v, permanent %v", err, tc.permanent)
			}
			// queue exports no accessor of the wait: its text says it.
			wait := ""
			if i := strings.LastIndex(err.Error(), "(retry after "); i >= 0 {
				wait = strings.TrimSuffix(err.Error()[i+len("(retry after "):], ")")
			}
			if wait != tc.wait {
				t.Errorf("Run: %v: wait %q, want %q", err, wait, tc.wait)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{" 17 ", 17 * time.Second, true},
		{"99999999999999999999999", time.Duration(1<<63 - 1), true},
		{"9223372036", 9223372036 * time.Second, true},
		{"9223372037", time.Duration(1<<63 - 1), true},
		{"+5", 0, false},
		{"5s", 0, false},
		{"", 0, false},
		{"Sun, 06 Nov 1994 08:49:37 GMT", 0, true},
	} {
		got, ok := parseRetryAfter(tc.in, testNow)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestMaxConcurrent: with MaxConcurrent 2 and a receiver that holds every
// request, two requests are in flight and the others wait for a slot.
func TestMaxConcurrent(t *testing.T) {
	arrived := make(chan struct{}, 100)
	release := make(chan struct{})
	var inFlight, most atomic.Int32
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		n := inFlight.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		arrived <- struct{}{}
		<-release
		inFlight.Add(-1)
	})
	e := newEndpoint(t, rc.URL)
	e.MaxConcurrent = 2
	m := newMessage(testRaw)
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 2 {
		wg.Go(func() { errs <- e.Run(t.Context(), m, testAttempt()) })
	}
	<-arrived
	<-arrived
	// Both slots are taken: a Run whose context is done cannot get one.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for range 3 {
		err := e.Run(ctx, m, testAttempt())
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "waiting for one of the 2 request slots") {
			t.Errorf("a third Run while two are in flight: %v", err)
		}
	}
	// More at once: each waits its turn.
	for range 4 {
		wg.Go(func() { errs <- e.Run(t.Context(), m, testAttempt()) })
	}
	for range 4 {
		release <- struct{}{}
		<-arrived
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	if n := len(rc.got()); n != 6 {
		t.Errorf("%d requests, want 6", n)
	}
	if n := most.Load(); n != 2 {
		t.Errorf("%d requests in flight at most, want 2", n)
	}
}

// TestErrorText: errors say the URL without userinfo, query or fragment,
// the status, and a short, one-line start of the body.
func TestErrorText(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, "upstream\r\nfailed\x1b[31m \u202e\xff"+strings.Repeat("é", 300))
	})
	secretURL := strings.Replace(rc.URL, "http://", "http://user:hunter2@", 1) + "/hook?token=SECRET#frag"
	e := newEndpoint(t, secretURL)
	err := e.Run(t.Context(), newMessage(testRaw), testAttempt())
	var se *StatusError
	if !errors.As(err, &se) {
		t.Fatalf("Run: %v", err)
	}
	msg := err.Error()
	wantPrefix := "webhook: POST " + rc.URL + "/hook: 502 Bad Gateway: \"upstream failed [31m "
	if !strings.HasPrefix(msg, wantPrefix) {
		t.Errorf("error %q, want it to start with %q", msg, wantPrefix)
	}
	if len(se.Body) > snippetBytes || !strings.HasSuffix(se.Body, "...") {
		t.Errorf("body snippet of %d bytes: %q", len(se.Body), se.Body)
	}
	for _, leak := range []string{"hunter2", "SECRET", "frag", "\n", "\x1b", "\u202e"} {
		if strings.Contains(msg, leak) {
			t.Errorf("error %q holds %q", msg, leak)
		}
	}

	// A connection refused and a malformed secret: no secrets either.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://user:hunter2@" + l.Addr().String() + "/hook?token=SECRET"
	l.Close()
	for _, e := range []*Endpoint{
		newEndpoint(t, closed),
		{URL: closed, Secrets: []string{"whsec_hunter2!"}},
		{URL: "ftp://user:hunter2@host/?token=SECRET"},
		{URL: "http://user:hunter2@host/%zz?token=SECRET"},
	} {
		err := e.Run(t.Context(), newMessage(testRaw), testAttempt())
		if !isRetryable(err) {
			t.Errorf("%v: want a retryable error", err)
		}
		for _, leak := range []string{"hunter2", "SECRET"} {
			if strings.Contains(err.Error(), leak) {
				t.Errorf("error %q holds %q", err, leak)
			}
		}
	}
	if err := (&Endpoint{URL: "http://h", Format: "xml"}).Check(); err == nil || !strings.Contains(err.Error(), `"xml"`) {
		t.Errorf("Check with Format xml: %v", err)
	}
	if err := (&Endpoint{URL: "https://h/x", Secrets: []string{testSecret}}).Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
}

// TestUnsigned: without Secrets a request has no signature, yet its id
// and timestamp.
func TestUnsigned(t *testing.T) {
	rc := newReceiver(t, status(http.StatusOK))
	e := newEndpoint(t, rc.URL)
	e.Secrets = nil
	if err := e.Run(t.Context(), newMessage(testRaw), testAttempt()); err != nil {
		t.Fatal(err)
	}
	h := rc.got()[0].header
	if h.Get(HeaderSignature) != "" || h.Get(HeaderID) != "m1.0" || h.Get(HeaderTimestamp) == "" {
		t.Errorf("headers %v", h)
	}
}

// TestConnectionsReused: an Endpoint without a Client of its own keeps a
// connection per request slot, so that POSTs at the concurrency limit
// reuse them rather than open one each. A connection goes back to the
// idle ones a moment after its slot is free, so a few more than the
// slots may be opened; http.DefaultTransport, which keeps two, opens one
// for most POSTs here.
func TestConnectionsReused(t *testing.T) {
	var mu sync.Mutex
	conns := 0
	rc := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	rc.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	rc.Start()
	t.Cleanup(rc.Close)
	e := &Endpoint{URL: rc.URL, Secrets: []string{testSecret}, MaxConcurrent: 8}
	t.Cleanup(func() { e.client().Transport.(*http.Transport).CloseIdleConnections() })
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 25 {
				if err := e.Run(t.Context(), newMessage(testRaw), testAttempt()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if conns > 16 {
		t.Errorf("200 POSTs, 8 at a time, opened %d connections, want at most 16", conns)
	}
}

// TestRFC822Streams: the raw format reads the message where it lies, for
// the signature and for the request, rather than holding it in memory: an
// 8 MiB message costs the sender far less than 8 MiB of allocations.
func TestRFC822Streams(t *testing.T) {
	const size = 8 << 20
	var got atomic.Int64
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		got.Store(n)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.Close)
	raw := "Subject: big\r\n\r\n" + strings.Repeat("0123456789abcde\n", size/16)
	m := newMessage(raw)
	e := &Endpoint{URL: rc.URL, Secrets: []string{testSecret}, Format: RFC822}
	t.Cleanup(func() { e.client().Transport.(*http.Transport).CloseIdleConnections() })
	if err := e.Run(t.Context(), m, testAttempt()); err != nil { // warm up the connection
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := e.Run(t.Context(), m, testAttempt()); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if got.Load() != int64(len(raw)) {
		t.Fatalf("the receiver got %d bytes, want %d", got.Load(), len(raw))
	}
	// The receiver runs in this process too, and allocates its own
	// buffers: the bound is a fraction of the message, not zero.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/4 {
		t.Errorf("a POST of an %d MiB message allocated %d KiB", size>>20, alloc>>10)
	} else {
		t.Logf("a POST of an %d MiB message allocated %d KiB", size>>20, alloc>>10)
	}
}
