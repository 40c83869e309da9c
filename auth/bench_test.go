package auth

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ownmx/ownmx/dnsx"
	"github.com/ownmx/ownmx/dnsx/dnstest"
	"github.com/ownmx/ownmx/smtpd"
)

// benchChecker returns a Checker on a dnstest server behind a dnsx.Cache,
// and the server, to count the queries that reach it.
func benchChecker(b *testing.B) (*Checker, *dnstest.Server) {
	b.Helper()
	srv := dnstest.NewServer(b, testZone(b))
	cache := dnsx.NewCache(&dnsx.Client{Nameserver: srv.Addr, Timeout: time.Second}, 0)
	return &Checker{
		Resolver: cache,
		Logger:   slog.New(slog.DiscardHandler),
		Now:      func() time.Time { return testNow },
	}, srv
}

// queries counts the queries srv received for the zone's names.
func queries(srv *dnstest.Server) int {
	n := 0
	for _, name := range []string{"example.com", "_dmarc.example.com", "sel._domainkey.example.com", "ed._domainkey.example.com"} {
		n += srv.Queries(name, 0)
	}
	return n
}

// BenchmarkCheck measures Check (DKIM and DMARC, SPF given) of one signed
// message with a warm DNS cache: after the first message, no query reaches
// the server, which the queries/op metric shows.
func BenchmarkCheck(b *testing.B) {
	for _, selector := range []string{"sel", "ed"} {
		name := map[string]string{"sel": "rsa-sha256", "ed": "ed25519-sha256"}[selector]
		b.Run(name, func(b *testing.B) {
			c, srv := benchChecker(b)
			msg := sign(b, testMessage("alice@example.com")+strings.Repeat("Some body text of a usual length.\r\n", 100), "example.com", selector)
			spf := c.SPF(b.Context(), ip1, "mta.example.com", "alice@example.com")
			check := func() {
				res, err := c.Check(b.Context(), spf, strings.NewReader(msg))
				if err != nil || res.Verdict() != Deliver || res.DKIM[0].Result != Pass {
					b.Fatalf("Check = %+v, %v", res, err)
				}
			}
			check() // warm the cache
			before := queries(srv)
			b.ReportAllocs()
			for b.Loop() {
				check()
			}
			b.ReportMetric(float64(queries(srv)-before)/float64(b.N), "queries/op")
		})
	}
}

// BenchmarkGlue measures the whole smtpd glue per message with a warm
// cache: SPF at MAIL FROM, spooling, DKIM, DMARC and the header rewrite,
// for a signed message and for unsigned ones of 1 KiB and 100 KiB (most
// mail, and all of bench/run.sh's load).
func BenchmarkGlue(b *testing.B) {
	body := func(size int) string {
		line := "Some body text of a usual length.\r\n"
		return strings.Repeat(line, size/len(line))
	}
	cases := []struct {
		name string
		msg  func(b *testing.B) string
	}{
		{"ed25519-signed", func(b *testing.B) string {
			return sign(b, testMessage("alice@example.com")+body(3500), "example.com", "ed")
		}},
		{"unsigned-1KiB", func(*testing.B) string { return testMessage("alice@example.com") + body(1<<10) }},
		{"unsigned-100KiB", func(*testing.B) string { return testMessage("alice@example.com") + body(100<<10) }},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			c, srv := benchChecker(b)
			msg := tc.msg(b)
			mail := c.MailHandler(nil)
			data := c.Middleware("mx.ownmx.test")(smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
				_, err := io.Copy(io.Discard, r)
				return err
			}))
			run := func() {
				env := envelope(ip1, "mta.example.com", "alice@example.com")
				if err := mail.Mail(b.Context(), env); err != nil {
					b.Fatal(err)
				}
				if err := data.Data(b.Context(), env, strings.NewReader(msg)); err != nil {
					b.Fatal(err)
				}
			}
			run()
			before := queries(srv)
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				run()
			}
			b.ReportMetric(float64(queries(srv)-before)/float64(b.N), "queries/op")
		})
	}
}
