package webhook

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ownmx/ownmx/auth"
	"github.com/ownmx/ownmx/queue"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testNow is the clock of the tests that do not talk to Node.
var testNow = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

// testSecret and oldSecret are fixed secrets, so that golden output and
// failures can be reproduced.
var (
	testSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	oldSecret  = "whsec_" + base64.StdEncoding.EncodeToString([]byte("the old secret of 24 bytes, rotated out"))
)

// largeContent is the content of the test message's large attachment.
var largeContent = bytes.Repeat([]byte("0123456789abcdef"), 128) // 2048 bytes

// testRaw is a message with a text and an HTML body, a small attachment
// (23 bytes) and a large one (2048 bytes).
var testRaw = strings.ReplaceAll(`Return-Path: <bounce@sender.example>
From: "Alice Example" <alice@sender.example>
To: Bob <bob@example.com>, carol@example.com
Cc: dave@example.com
Reply-To: replies@sender.example
Subject: =?utf-8?q?Quarterly_report_=E2=9C=93?=
Date: Mon, 01 Jun 2026 12:00:00 +0200
Message-ID: <report-1@sender.example>
In-Reply-To: <q-7@example.com>
References: <q-6@example.com> <q-7@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="mixed"

--mixed
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8

Hello Bob,
the report is attached.
--alt
Content-Type: text/html; charset=utf-8

<p>Hello Bob,<br>the report is <b>attached</b>.</p>
--alt--
--mixed
Content-Type: text/csv; name="small.csv"
Content-Disposition: attachment; filename="small.csv"
Content-ID: <small@sender.example>

quarter,total
Q1,10
--mixed
Content-Type: application/octet-stream
Content-Disposition: attachment; filename="large.bin"
Content-Transfer-Encoding: base64

`+base64.StdEncoding.EncodeToString(largeContent)+`
--mixed--
`, "\n", "\r\n")

// newMessage returns a queued message of raw with a full envelope.
func newMessage(raw string) *queue.Message {
	ip := netip.MustParseAddr("192.0.2.1")
	return &queue.Message{
		ID: "m1",
		Envelope: queue.Envelope{
			ID:         "smtp-7",
			Received:   testNow,
			From:       "bounce@sender.example",
			Rcpt:       []string{"bob@example.com", "carol@example.com", "info@example.com"},
			ClientIP:   ip.String(),
			Helo:       "mx.sender.example",
			TLS:        &queue.TLS{Version: "TLS 1.3", Cipher: "TLS_AES_128_GCM_SHA256"},
			Quarantine: false,
			Auth: &auth.Results{
				SPF: auth.SPFResult{Result: auth.Pass, IP: ip, Helo: "mx.sender.example",
					MailFrom: "bounce@sender.example", Domain: "sender.example"},
				DKIM: []auth.DKIMResult{{Result: auth.Pass, Domain: "sender.example", Identifier: "@sender.example"}},
				DMARC: auth.DMARCResult{Result: auth.Pass, Domain: "sender.example", Policy: "reject",
					Sampled: true, SPFAligned: true, DKIMAligned: true, Verdict: auth.Deliver},
			},
		},
		Body: io.NewSectionReader(strings.NewReader(raw), 0, int64(len(raw))),
	}
}

// testAttempt is the attempt of the tests: the route's recipients are two
// of the message's three.
func testAttempt() *queue.Attempt {
	return &queue.Attempt{
		Delivery: queue.Delivery{Action: "*@example.com", Rcpt: []string{"bob@example.com", "carol@example.com"}},
		ID:       "m1.0",
		Number:   1,
	}
}

// request is what a receiver got.
type request struct {
	header http.Header
	body   []byte
}

// receiver is an HTTP server on loopback that keeps every request and
// answers with its handler, called with the request's index from 0.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	requests []request
}

func newReceiver(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, n int)) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("receiver: reading the body: %v", err)
		}
		rc.mu.Lock()
		n := len(rc.requests)
		rc.requests = append(rc.requests, request{r.Header.Clone(), body})
		rc.mu.Unlock()
		answer(w, r, n)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// got returns the requests received so far.
func (rc *receiver) got() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.requests...)
}

// status answers every request with code.
func status(code int) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, _ *http.Request, _ int) { w.WriteHeader(code) }
}

// newEndpoint returns an Endpoint for url, signed with testSecret, whose
// client's idle connections are closed when the test ends.
func newEndpoint(t *testing.T, url string) *Endpoint {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return &Endpoint{
		URL:     url,
		Secrets: []string{testSecret},
		Client:  &http.Client{Transport: tr},
		Now:     func() time.Time { return testNow },
	}
}

// isRetryable reports whether err is a failure the queue tries again.
func isRetryable(err error) bool { return err != nil && !queue.IsPermanent(err) }

// statusOf returns the status code of a *StatusError in err, or 0.
func statusOf(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.StatusCode
	}
	return 0
}
