package webhook

import (
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ownmx/ownmx/smtpd"
)

// TestDecide: the SMTP reply follows the receiver's answer: 2xx is
// accepted (nil: 250), a refusal is 550 5.7.1, anything else 451 4.3.0,
// and the client hears nothing of the URL.
func TestDecide(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		switch r.URL.Path {
		case "/stall":
			select {
			case <-r.Context().Done():
			case <-release:
			}
		case "/200":
			w.WriteHeader(200)
		case "/204":
			w.WriteHeader(204)
		case "/400":
			w.WriteHeader(400)
		case "/403":
			w.WriteHeader(403)
		case "/410":
			w.WriteHeader(410)
		case "/408":
			w.WriteHeader(408)
		case "/429":
			w.WriteHeader(429)
		case "/500":
			w.WriteHeader(500)
		case "/503":
			w.Header().Set("Retry-After", "60")
			w.WriteHeader(503)
		case "/302":
			w.Header().Set("Location", "/200")
			w.WriteHeader(302)
		}
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String() + "/hook"
	l.Close()
	for _, tc := range []struct {
		url      string
		code     int
		enhanced smtpd.EnhancedCode
	}{
		{rc.URL + "/200", 0, smtpd.EnhancedCode{}},
		{rc.URL + "/204", 0, smtpd.EnhancedCode{}},
		{rc.URL + "/400", 550, smtpd.EnhancedCode{5, 7, 1}},
		{rc.URL + "/403", 550, smtpd.EnhancedCode{5, 7, 1}},
		{rc.URL + "/410", 550, smtpd.EnhancedCode{5, 7, 1}},
		{rc.URL + "/408", 451, smtpd.EnhancedCode{4, 3, 0}},
		{rc.URL + "/429", 451, smtpd.EnhancedCode{4, 3, 0}},
		{rc.URL + "/500", 451, smtpd.EnhancedCode{4, 3, 0}},
		{rc.URL + "/503", 451, smtpd.EnhancedCode{4, 3, 0}},
		{rc.URL + "/302", 451, smtpd.EnhancedCode{4, 3, 0}},
		{rc.URL + "/stall", 451, smtpd.EnhancedCode{4, 3, 0}},
		{refused, 451, smtpd.EnhancedCode{4, 3, 0}},
	} {
		t.Run(strings.TrimPrefix(tc.url, rc.URL), func(t *testing.T) {
			e := newEndpoint(t, tc.url)
			e.Timeout = 300 * time.Millisecond
			m := newMessage(testRaw)
			m.ID = "" // not queued: the SMTP transaction's ID names it
			start := time.Now()
			err := e.Sync().Decide(t.Context(), m, []string{"bob@example.com"})
			if took := time.Since(start); took > e.Timeout+5*time.Second {
				t.Errorf("Decide took %v with a Timeout of %v", took, e.Timeout)
			}
			if tc.code == 0 {
				if err != nil {
					t.Fatalf("Decide: %v, want nil", err)
				}
				h := rc.got()[len(rc.got())-1].header
				if h.Get(HeaderID) != "smtp-7" {
					t.Errorf("webhook-id %q, want the SMTP transaction's ID", h.Get(HeaderID))
				}
				return
			}
			var se *smtpd.Error
			if !errors.As(err, &se) || se.Code != tc.code || se.Enhanced != tc.enhanced {
				t.Fatalf("Decide: %#v, want %d %v", err, tc.code, tc.enhanced)
			}
			if strings.Contains(se.Message, "127.0.0.1") || se.Err == nil || !strings.Contains(se.Err.Error(), "127.0.0.1") {
				t.Errorf("reply %q, cause %v: the URL is for the log only", se.Message, se.Err)
			}
		})
	}
}

// TestDecideWaitsWithinTimeout: Decide's Timeout bounds its wait for a
// request slot too, so that an SMTP client is not held.
func TestDecideWaitsWithinTimeout(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	e := newEndpoint(t, rc.URL)
	e.MaxConcurrent = 1
	e.Timeout = time.Minute
	done := make(chan error, 1)
	go func() { done <- e.Run(t.Context(), newMessage(testRaw), testAttempt()) }()
	<-arrived
	e2 := e // the same slots
	// A Decide with a short Timeout on an Endpoint whose one slot is
	// taken: it cannot be had, so Decide says 451 after its Timeout.
	short := &Endpoint{URL: e2.URL, Client: e2.Client, MaxConcurrent: 1, Timeout: 200 * time.Millisecond}
	short.slotsOnce.Do(func() {})
	short.slots = e2.slots
	err := short.Sync().Decide(t.Context(), newMessage(testRaw), nil)
	var se *smtpd.Error
	if !errors.As(err, &se) || se.Code != 451 || !strings.Contains(se.Err.Error(), "request slots") {
		t.Errorf("Decide: %v, want 451 after waiting for a slot", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
