package auth

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// TestEndToEndStoppedCheck runs a real smtpd.Server with the glue and
// cancels the context of the check of a signed message once its DKIM key
// has been looked up, as when the connection closes or the server shuts
// down: the client gets 451 and nothing is stored, where the same message
// checked to the end is delivered.
func TestEndToEndStoppedCheck(t *testing.T) {
	c, _ := newChecker(t)
	c.Timeout = time.Minute // for 2 MiB under the race detector on a busy machine
	var mu sync.Mutex
	var cancelCheck context.CancelFunc // of the message being checked, if it is to be stopped
	c.Resolver = hookResolver{Resolver: c.Resolver, hook: func(ctx context.Context, name string) {
		mu.Lock()
		defer mu.Unlock()
		if name == "ed._domainkey.example.com" && cancelCheck != nil {
			cancelCheck()
		}
	}}
	stop := false
	stopper := func(next smtpd.DataHandler) smtpd.DataHandler {
		return smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			mu.Lock()
			if stop {
				cancelCheck = cancel
			}
			mu.Unlock()
			return next.Data(ctx, env, r)
		})
	}
	store := &memStore{}
	addr := smtptest.Start(t, &smtpd.Server{
		Hostname: "mx.ownmx.test",
		Mail:     c.MailHandler(nil),
		Rcpt:     smtpd.AcceptDomains("ownmx.test"),
		Data:     smtpd.Chain(store, stopper, c.Middleware("mx.ownmx.test")),
	})
	// 2 MiB, more than the feeds hold before the key is found: the check
	// is stopped while the body is hashed.
	body := strings.Repeat("Some body text.\r\n", 2<<20/17)
	msg := sign(t, testMessage("alice@example.com")+body, "example.com", "ed")
	for _, tc := range []struct {
		name     string
		stop     bool
		code     int
		enhanced string
	}{
		{"checked to the end: delivered", false, 250, ""},
		{"stopped: 451", true, 451, "4.3.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			stop, cancelCheck = tc.stop, nil
			mu.Unlock()
			err := smtptest.Send(addr, "bounce@elsewhere.example.org", []string{"bob@ownmx.test"}, msg)
			code, enhanced := 250, ""
			if err != nil {
				var se *smtpd.Error
				if !errors.As(err, &se) {
					t.Fatalf("Send: %v", err)
				}
				code, enhanced = se.Code, se.Enhanced.String()
			}
			if code != tc.code || enhanced != tc.enhanced {
				t.Fatalf("reply %d %s (%v), want %d %s", code, enhanced, err, tc.code, tc.enhanced)
			}
			if got := store.take(); len(got) != map[bool]int{false: 1, true: 0}[tc.stop] {
				t.Errorf("%d messages stored", len(got))
			}
		})
	}
}
