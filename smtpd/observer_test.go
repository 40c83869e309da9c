package smtpd_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// observed counts what an Observer was told.
type observed struct {
	mu      sync.Mutex
	open    int
	replies map[string]int // "VERB code enhanced"
	closed  chan time.Duration
	reasons map[smtpd.CloseReason]int
	sizes   []int64 // of the messages accepted
	rcpts   []int   // their numbers of recipients
	stages  map[string]int
}

func newObserved() (*observed, *smtpd.Observer) {
	o := &observed{replies: map[string]int{}, closed: make(chan time.Duration, 16), reasons: map[smtpd.CloseReason]int{}, stages: map[string]int{}}
	return o, &smtpd.Observer{
		ConnOpened: func() { o.mu.Lock(); o.open++; o.mu.Unlock() },
		ConnClosed: func(d time.Duration, r smtpd.CloseReason) {
			o.mu.Lock()
			o.reasons[r]++
			o.mu.Unlock()
			o.closed <- d
		},
		MessageAccepted: func(size int64, rcpts int) {
			o.mu.Lock()
			o.sizes, o.rcpts = append(o.sizes, size), append(o.rcpts, rcpts)
			o.mu.Unlock()
		},
		Handler: func(stage string, d time.Duration) {
			o.mu.Lock()
			if d > 0 {
				o.stages[stage]++
			}
			o.mu.Unlock()
		},
		Reply: func(command string, code int, e smtpd.EnhancedCode) {
			o.mu.Lock()
			o.replies[fmt.Sprintf("%s %d %d.%d.%d", command, code, e[0], e[1], e[2])]++
			o.mu.Unlock()
		},
	}
}

// TestObserverSeesSessions: after three messages accepted and one
// recipient refused, over real SMTP sessions, the Observer has been told
// of each connection opened and closed and of each reply by command.
func TestObserverSeesSessions(t *testing.T) {
	o, obs := newObserved()
	srv := discardServer()
	srv.Observer = obs
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
		case d := <-o.closed:
			if d <= 0 {
				t.Errorf("connection %d lasted %v", i, d)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d connections reported closed after 10s", i)
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.open != 4 {
		t.Errorf("connections opened = %d, want 4", o.open)
	}
	for key, want := range map[string]int{
		"MAIL 250 2.1.0": 4,
		"RCPT 250 2.1.5": 3,
		"DATA 354 0.0.0": 3,
		" 220 0.0.0":     4,
		"EHLO 250 0.0.0": 4,
		"DATA 250 2.0.0": 3,
	} {
		if got := o.replies[key]; got != want {
			t.Errorf("replies %q = %d, want %d (all: %v)", key, got, want, o.replies)
		}
	}
	refused := 0
	for key, n := range o.replies {
		if key[:8] == "RCPT 550" || key[:8] == "RCPT 554" {
			refused += n
		}
	}
	if refused != 1 {
		t.Errorf("RCPT refusals = %d, want 1 (all: %v)", refused, o.replies)
	}
}
