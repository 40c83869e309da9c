package outagetest

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// TestRun runs a burst against a server that is a flag: every message sent
// while it is down fails, and the phases of the results say so.
func TestRun(t *testing.T) {
	var down atomic.Bool
	var stops, restarts int
	results := Burst{
		Clients: 3, PerClient: 1000, Before: 10, After: 10, Downtime: 100 * time.Millisecond,
		Stop:    func() { stops++; down.Store(true) },
		Restart: func() { restarts++; down.Store(false) },
		Send: func(c, n int) (string, error) {
			if down.Load() {
				return fmt.Sprint(c, "-", n), errors.New("down")
			}
			return fmt.Sprint(c, "-", n), nil
		},
	}.Run(t)
	if stops != 1 || restarts != 1 {
		t.Errorf("Stop called %d times, Restart %d; want 1 and 1", stops, restarts)
	}
	var before, whileDown, after int
	for _, r := range results {
		switch {
		case r.WhileDown() && r.Err == nil:
			t.Errorf("%s was accepted while the server was down", r.ID)
		case r.WhileDown():
			whileDown++
		case r.Err == nil && r.Start == Before:
			before++
		case r.Err == nil && r.Start == After:
			after++
		}
	}
	if before < 10 || after < 10 || whileDown == 0 {
		t.Errorf("%d accepted before, %d refused while down, %d accepted after; want >= 10, > 0, >= 10", before, whileDown, after)
	}
}
