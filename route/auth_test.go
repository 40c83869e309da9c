package route

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ownmx/ownmx/auth"
	"github.com/ownmx/ownmx/dnsx"
	"github.com/ownmx/ownmx/dnsx/dnstest"
	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// authZone is the DNS of TestDataAuth's senders: ok.example passes SPF
// from loopback, junk.example fails it and asks for quarantine.
const authZone = `
ok.example.          3600 IN SOA ns.ok.example. hostmaster.ok.example. 1 3600 600 86400 300
ok.example.               IN TXT "v=spf1 ip4:127.0.0.1 -all"
_dmarc.ok.example.        IN TXT "v=DMARC1; p=reject"
junk.example.        3600 IN SOA ns.junk.example. hostmaster.junk.example. 1 3600 600 86400 300
junk.example.             IN TXT "v=spf1 ip4:192.0.2.1 -all"
_dmarc.junk.example.      IN TXT "v=DMARC1; p=quarantine"
`

// TestDataAuth runs auth.Checker's MAIL handler and middleware before the
// Mux, with DNS from a dnstest server: the queued Envelope carries their
// Results (and the Decider sees them too), and a DMARC quarantine sets its
// Quarantine; a trusted client's Results say so.
func TestDataAuth(t *testing.T) {
	dns := dnstest.NewServer(t, authZone)
	for _, tc := range []struct {
		name       string
		from       string
		trusted    bool
		spf, dmarc auth.Result
		quarantine bool
	}{
		{"pass", "alice@ok.example", false, "pass", "pass", false},
		{"quarantine", "mallory@junk.example", false, "fail", "fail", true},
		{"trusted", "mallory@junk.example", true, "none", "none", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checker := &auth.Checker{
				Resolver: &dnsx.Client{Nameserver: dns.Addr, Timeout: time.Second, Attempts: 1},
				Logger:   slog.New(slog.DiscardHandler),
			}
			if tc.trusted {
				checker.Trusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
			}
			d := &decider{}
			mux := &Mux{}
			mux.Handle("hook@example.com", d)
			mux.Handle("*@example.com", nop)
			rec := &recorder{}
			addr := smtptest.Start(t, &smtpd.Server{
				Hostname: "mx.example.com",
				Mail:     checker.MailHandler(nil),
				Rcpt:     smtpd.AcceptDomains("example.com").Then(mux),
				Data:     smtpd.Chain(mux.Handler(rec), checker.Middleware("mx.example.com")),
				Logger:   slog.New(slog.DiscardHandler),
			})
			msg := strings.Replace(testMessage, "alice@example.net", tc.from, 1)
			wantReply(t, smtptest.Send(addr, tc.from, []string{"hook@example.com", "bob@example.com"}, msg), 250, "")

			commits := rec.got()
			if len(commits) != 1 {
				t.Fatalf("%d commits, want 1", len(commits))
			}
			env := commits[0].env
			if env.Auth == nil {
				t.Fatalf("the queued envelope has no auth Results")
			}
			if env.Auth.SPF.Result != tc.spf || env.Auth.DMARC.Result != tc.dmarc || env.Auth.Trusted != tc.trusted || env.Quarantine != tc.quarantine {
				t.Errorf("SPF %s, DMARC %s, trusted %v, quarantine %v; want %s, %s, %v, %v",
					env.Auth.SPF.Result, env.Auth.DMARC.Result, env.Auth.Trusted, env.Quarantine, tc.spf, tc.dmarc, tc.trusted, tc.quarantine)
			}
			if !strings.Contains(commits[0].body, "Authentication-Results: mx.example.com;") {
				t.Errorf("the committed message lacks the middleware's Authentication-Results: %q", commits[0].body)
			}
			calls := d.got()
			if len(calls) != 1 || calls[0].env.Auth != env.Auth || calls[0].env.Quarantine != tc.quarantine || calls[0].body != commits[0].body {
				t.Errorf("the Decider did not see the same message and Results")
			}
		})
	}
}
