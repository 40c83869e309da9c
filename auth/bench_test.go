package auth

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

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
		// The attack on DKIM's simple canonicalization: 8 MiB of empty
		// lines, signed.
		{"simple-signed-8MiB-empty-lines", func(b *testing.B) string {
			empty := strings.Repeat("\r\n", 4<<20)
			msg, _ := signBody(b, testMessage("alice@example.com")+empty, empty, dkim.CanonicalizationSimple, 1)
			return msg
		}},
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
			before, cpu := queries(srv), cpuTime()
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				run()
			}
			b.ReportMetric(float64(queries(srv)-before)/float64(b.N), "queries/op")
			b.ReportMetric((cpuTime()-cpu).Seconds()/float64(b.N), "cpu-s/op")
		})
	}
}

// BenchmarkDKIMBody measures DKIM on one message signed with Ed25519 (so
// that the signature costs little next to the body) for bodies of 1, 4 and
// 16 MiB: empty lines, which cost go-msgauth's simple canonicalization
// time in the square of their number, alone or between two lines of text;
// lines of white space; lone CRs; one line; and ordinary text. cpu-ns/MiB,
// the CPU time of the whole process per MiB of body, all goroutines
// counted, should not grow with the size nor differ much between the
// bodies; ns/MiB is the same in wall time, which other work on the machine
// disturbs. The 8 MiB bodies, with one signature and with five, are the
// attack of the issue that led to dkimfeed.go.
func BenchmarkDKIMBody(b *testing.B) {
	const mib = 1 << 20
	c, _ := benchChecker(b)
	for _, canon := range []dkim.Canonicalization{dkim.CanonicalizationSimple, dkim.CanonicalizationRelaxed} {
		for _, kind := range benchBodies {
			runs := []struct{ size, sigs int }{{1 * mib, 1}, {4 * mib, 1}, {16 * mib, 1}}
			if kind.name == "empty-lines" || kind.name == "empty-lines-inside" || kind.name == "text" {
				runs = append(runs, struct{ size, sigs int }{8 * mib, 1}, struct{ size, sigs int }{8 * mib, 5})
			}
			for _, r := range runs {
				b.Run(fmt.Sprintf("%s/%s/%dMiB/sigs=%d", canon, kind.name, r.size/mib, r.sigs), func(b *testing.B) {
					benchDKIMBody(b, c, canon, kind.make(r.size), r.sigs)
				})
			}
		}
	}
}

// benchBody is a kind of body, made to a size.
type benchBody struct {
	name string
	make func(size int) string
}

// benchBodies are the bodies of BenchmarkDKIMBody.
var benchBodies = []benchBody{
	{"empty-lines", func(size int) string { return strings.Repeat("\r\n", size/2) }},
	{"empty-lines-inside", func(size int) string { return "a\r\n" + strings.Repeat("\r\n", size/2) + "b\r\n" }},
	{"white-space-lines", func(size int) string { return strings.Repeat(" \t \r\n", size/5) }},
	{"lone-CRs", func(size int) string { return strings.Repeat("\r", size) }},
	{"one-line", func(size int) string { return strings.Repeat("a", size) }},
	{"text", func(size int) string {
		line := "Some body text of a usual length, and a few more words.\r\n"
		return strings.Repeat(line, size/len(line))
	}},
}

func benchDKIMBody(b *testing.B, c *Checker, canon dkim.Canonicalization, body string, sigs int) {
	const mib = 1 << 20
	msg, want := signBody(b, testMessage("alice@example.com")+body, body, canon, sigs)
	b.SetBytes(int64(len(body)))
	before := cpuTime()
	for b.Loop() {
		res, err := c.DKIM(b.Context(), strings.NewReader(msg))
		if err != nil || len(res) != sigs || res[0].Result != want ||
			want == Fail && !strings.Contains(res[0].Err.Error(), "body hash did not verify") {
			b.Fatalf("DKIM = %+v, %v; want %d %s", res, err, sigs, want)
		}
	}
	perMiB := float64(b.N) * float64(len(body)) / mib
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/perMiB, "ns/MiB")
	b.ReportMetric(float64((cpuTime()-before).Nanoseconds())/perMiB, "cpu-ns/MiB")
}

// signBody returns msg, whose body is body, with sigs Ed25519 signatures
// for example.com with canonicalization canon for the header and the
// body, and the result they should have. go-msgauth's signer costs time
// in the square of the number of empty lines in a row too: a body made
// of empty lines is signed as the empty body it canonicalizes to (RFC 6376
// §3.4.3, §3.4.4), and a body with other runs of line ends, under
// simple, is signed as another body, for a signature that fails once the
// whole body is hashed.
func signBody(b testing.TB, msg, body string, canon dkim.Canonicalization, sigs int) (string, Result) {
	b.Helper()
	canonical := func(o *dkim.SignOptions) { o.HeaderCanonicalization, o.BodyCanonicalization = canon, canon }
	signedBody, want := body, Pass
	switch {
	case strings.ReplaceAll(body, "\r\n", "") == "":
		signedBody = ""
	case canon == dkim.CanonicalizationSimple && strings.Contains(strings.ReplaceAll(body, "\r", ""), "\n\n\n\n"):
		signedBody, want = "a\r\nb\r\n", Fail
	}
	signed := msg[:len(msg)-len(body)] + signedBody
	for range sigs {
		signed = sign(b, signed, "example.com", "ed", canonical)
	}
	return signed[:len(signed)-len(signedBody)] + body, want
}

// BenchmarkReadTwice measures a Data handler after the glue that reads a
// 10 MiB message twice (to parse it, then to store it), in three ways:
// keeping its own copy in memory (io.ReadAll), keeping its own copy in a
// second smtpd.Spool, and reading the glue's spool again with
// smtpd.Reread. The first two are the baselines for the third: B/op shows
// the copy in memory, ns/op the copy to disk.
func BenchmarkReadTwice(b *testing.B) {
	const size = 10 << 20
	line := "Some body text of a usual length.\r\n"
	msg := testMessage("alice@example.com") + strings.Repeat(line, size/len(line))
	twice := func(r1, r2 io.Reader) error {
		if _, err := io.Copy(io.Discard, r1); err != nil {
			return err
		}
		_, err := io.Copy(io.Discard, r2)
		return err
	}
	for _, tc := range []struct {
		name    string
		handler func(b *testing.B, spoolDir string) smtpd.DataFunc
	}{
		{"own-copy-in-memory", func(b *testing.B, _ string) smtpd.DataFunc {
			return func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
				all, err := io.ReadAll(r)
				if err != nil {
					return err
				}
				return twice(bytes.NewReader(all), bytes.NewReader(all))
			}
		}},
		{"own-copy-in-a-spool", func(b *testing.B, spoolDir string) smtpd.DataFunc {
			return func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
				sp := &smtpd.Spool{Dir: spoolDir}
				defer sp.Close()
				if _, err := sp.ReadFrom(r); err != nil {
					return err
				}
				return twice(sp.Reader(), sp.Reader())
			}
		}},
		{"reread", func(b *testing.B, _ string) smtpd.DataFunc {
			return func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
				r1, ok1 := smtpd.Reread(r)
				r2, ok2 := smtpd.Reread(r)
				if !ok1 || !ok2 {
					b.Fatal("smtpd.Reread: the message cannot be read again")
				}
				return twice(r1, r2)
			}
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c, _ := benchChecker(b)
			c.SpoolDir = b.TempDir()
			mail := c.MailHandler(nil)
			data := c.Middleware("mx.ownmx.test")(tc.handler(b, c.SpoolDir))
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
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				run()
			}
		})
	}
}
