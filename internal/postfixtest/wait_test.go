package postfixtest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// TestWaitFails shows each way Wait fails the test rather than return
// something else than n messages for the address.
func TestWaitFails(t *testing.T) {
	t.Parallel()
	in := Start(t, Options{Domains: []string{"example.com"}, Users: []string{"a@example.com", "b@example.com"}})
	for i := range 2 {
		if err := smtptest.Send(in.Addr, "s@example.org", []string{"a@example.com"}, "Subject: x\r\n\r\nx\r\n"); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	in.Wait(t, "a@example.com", 2)
	soon := time.Now().Add(100 * time.Millisecond)

	if _, err := in.wait("a@example.com", 1, soon); err == nil || !strings.Contains(err.Error(), "2 messages delivered to a@example.com, want 1") {
		t.Errorf("Wait for 1 of 2 messages there: %v, want an error saying there are 2", err)
	}
	_, err := in.wait("b@example.com", 1, soon)
	if !errors.Is(err, errTooFew) || !strings.Contains(err.Error(), "0 of 1 messages delivered to b@example.com") || !strings.Contains(err.Error(), "status=sent (delivered to maildir)") {
		t.Errorf("Wait for a message that does not come: %v, want errTooFew with the end of the log", err)
	}
	for addr, want := range map[string]string{
		"c@example.com":  "not one of Options.Users",
		"a@example.net":  "not an address at",
		"a":              "not an address at",
		"@example.com":   "not an address at",
		"a@@example.com": "not one of Options.Users",
	} {
		if _, err := in.wait(addr, 1, soon); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Wait for %q: %v, want an error with %q", addr, err, want)
		}
	}
	if got, err := in.wait("A@Example.COM", 2, soon); err != nil || len(got) != 2 {
		t.Errorf("Wait for a@example.com in capitals: %d messages, %v; want 2", len(got), err)
	}
}
