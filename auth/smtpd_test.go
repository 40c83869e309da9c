package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/ownmx/ownmx/smtpd"
)

// received is what the fake next handler saw.
type received struct {
	called     bool
	msg        string
	quarantine bool
}

// nextHandler returns a DataHandler that records what it receives.
func nextHandler(t *testing.T, got *received) smtpd.DataHandler {
	return smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
		got.called = true
		got.msg = readAll(t, r)
		got.quarantine = env.Quarantine
		return nil
	})
}

func envelope(ip netip.Addr, helo, from string) *smtpd.Envelope {
	return &smtpd.Envelope{
		ID:   "tx1",
		Conn: &smtpd.Conn{ID: "c1", RemoteAddr: netip.AddrPortFrom(ip, 40000), Helo: helo},
		From: from,
		Rcpt: []string{"bob@ownmx.test"},
	}
}

// deliver runs a message through the Mail handler and the Middleware, as
// the Server would, and returns what next received and the Data error.
func deliver(t *testing.T, c *Checker, env *smtpd.Envelope, msg string) (received, error) {
	t.Helper()
	if err := c.MailHandler(nil).Mail(t.Context(), env); err != nil {
		t.Fatalf("Mail handler refused: %v", err)
	}
	var got received
	h := smtpd.Chain(nextHandler(t, &got), c.Middleware("mx.ownmx.test"))
	err := h.Data(t.Context(), env, strings.NewReader(msg))
	return got, err
}

// replyOf returns the code and enhanced code of a handler error, 0 for nil.
func replyOf(t *testing.T, err error) (int, string) {
	t.Helper()
	if err == nil {
		return 0, ""
	}
	var se *smtpd.Error
	if !errors.As(err, &se) {
		t.Fatalf("error %v is not an *smtpd.Error", err)
	}
	return se.Code, se.Enhanced.String()
}

// TestGlue runs messages through the glue for each policy and alignment
// mode, and checks the reply and the header that next receives.
func TestGlue(t *testing.T) {
	c, srv := newChecker(t)
	srv.ServFail("_dmarc.sf.example.com")
	c.Rand = func(int) int { return 0 }
	msg := testMessage
	for _, tc := range []struct {
		name       string
		ip         netip.Addr
		mailFrom   string
		msg        string
		annotate   bool
		code       int
		enhanced   string
		quarantine bool
		dmarc      string // expected dmarc= line of the header
	}{
		// p=reject, relaxed (example.com).
		{"reject, relaxed, DKIM aligned: deliver", ipX, "bounce@elsewhere.example.org",
			sign(t, msg("alice@example.com"), "example.com", "sel"), false, 0, "", false, "dmarc=pass header.from=example.com"},
		{"reject, relaxed, DKIM by a subdomain: deliver", ipX, "bounce@elsewhere.example.org",
			sign(t, msg("alice@example.com"), "mail.example.com", "ed"), false, 0, "", false, "dmarc=pass header.from=example.com"},
		{"reject, relaxed, SPF by a subdomain: deliver", ip2, "bounce@mail.example.com",
			msg("alice@example.com"), false, 0, "", false, "dmarc=pass header.from=example.com"},
		{"reject, unauthenticated: 550", ipX, "alice@example.com",
			msg("alice@example.com"), false, 550, "5.7.1", false, ""},
		{"reject, SPF pass for another domain: 550", ipO, "bounce@example.org",
			msg("alice@example.com"), false, 550, "5.7.1", false, ""},
		// p=reject, strict (strict.example.com).
		{"reject, strict, DKIM by the parent: 550", ipX, "bounce@elsewhere.example.org",
			sign(t, msg("alice@strict.example.com"), "example.com", "sel"), false, 550, "5.7.1", false, ""},
		{"reject, strict, DKIM by the same domain: deliver", ipX, "bounce@elsewhere.example.org",
			sign(t, msg("alice@strict.example.com"), "strict.example.com", "sel"), false, 0, "", false, "dmarc=pass header.from=strict.example.com"},
		{"reject, strict, SPF for the same domain: deliver", ip4, "bounce@strict.example.com",
			msg("alice@strict.example.com"), false, 0, "", false, "dmarc=pass header.from=strict.example.com"},
		// p=quarantine (example.org), and sp=quarantine (sub.example.com).
		{"quarantine, unauthenticated: Junk", ipX, "alice@example.org",
			msg("alice@example.org"), false, 0, "", true, `dmarc=fail reason="policy quarantine" header.from=example.org`},
		{"quarantine, DKIM aligned: inbox", ipX, "alice@example.org",
			sign(t, msg("alice@example.org"), "example.org", "ed"), false, 0, "", false, "dmarc=pass header.from=example.org"},
		{"sp=quarantine for a subdomain: Junk", ipX, "alice@sub.example.com",
			msg("alice@sub.example.com"), false, 0, "", true, `dmarc=fail reason="policy quarantine" header.from=sub.example.com`},
		// p=none (example.net).
		{"none, unauthenticated, SPF fail: deliver", ipX, "alice@example.net",
			msg("alice@example.net"), false, 0, "", false, `dmarc=fail reason="policy none" header.from=example.net`},
		// No record, temporary failure, annotate only.
		{"no DMARC record, SPF fail alone: deliver", ipX, "alice@example.com",
			msg("alice@norecord.test"), false, 0, "", false, `dmarc=none reason="no DMARC record" header.from=norecord.test`},
		{"DMARC record SERVFAIL: 451", ipX, "alice@sf.example.com",
			msg("alice@sf.example.com"), false, 451, "4.7.0", false, ""},
		{"annotate only, reject: deliver to inbox", ipX, "alice@example.com",
			msg("alice@example.com"), true, 0, "", false, `dmarc=fail reason="policy reject" header.from=example.com`},
		{"annotate only, quarantine: inbox", ipX, "alice@example.org",
			msg("alice@example.org"), true, 0, "", false, `dmarc=fail reason="policy quarantine" header.from=example.org`},
		{"annotate only, SERVFAIL: deliver", ipX, "alice@sf.example.com",
			msg("alice@sf.example.com"), true, 0, "", false, `dmarc=temperror reason="temporary DNS failure" header.from=sf.example.com`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := *c
			cc.AnnotateOnly = tc.annotate
			var checked []Verdict
			cc.Checked = func(res *Results) { checked = append(checked, res.Verdict()) }
			got, err := deliver(t, &cc, envelope(tc.ip, "mta.example.test", tc.mailFrom), tc.msg)
			code, enhanced := replyOf(t, err)
			if code != tc.code || enhanced != tc.enhanced {
				t.Fatalf("reply %d %s (%v), want %d %s", code, enhanced, err, tc.code, tc.enhanced)
			}
			// Checked hears of every message once, refused ones too.
			want := Deliver
			switch {
			case tc.annotate:
				want = "" // any: the verdict is not applied
			case tc.code == 550:
				want = Reject
			case tc.code == 451:
				want = Defer
			case tc.quarantine:
				want = Quarantine
			}
			if len(checked) != 1 || want != "" && checked[0] != want {
				t.Errorf("Checked saw verdicts %v, want one %q", checked, want)
			}
			if got.called != (tc.code == 0) {
				t.Fatalf("next called: %v, want %v", got.called, tc.code == 0)
			}
			if got.quarantine != tc.quarantine {
				t.Errorf("Quarantine = %v, want %v", got.quarantine, tc.quarantine)
			}
			if !got.called {
				return
			}
			if !strings.HasPrefix(got.msg, "Authentication-Results: mx.ownmx.test;\r\n") {
				t.Errorf("message does not start with our header:\n%s", got.msg)
			}
			if !strings.Contains(got.msg, "\t"+tc.dmarc+"\r\n") {
				t.Errorf("header lacks %q:\n%s", tc.dmarc, got.msg)
			}
			if want := tc.msg; !strings.HasSuffix(got.msg, want) {
				t.Errorf("the original message does not follow the header intact")
			}
		})
	}
}

// TestGlueForged checks that Authentication-Results claiming our id are
// removed (RFC 8601 §5) and the rest of the message kept byte for byte.
func TestGlueForged(t *testing.T) {
	c, _ := newChecker(t)
	forged := "Authentication-Results: mx.ownmx.test; dmarc=pass header.from=example.com\r\n" +
		"Authentication-Results: upstream.example; spf=pass smtp.mailfrom=a@example.net\r\n" +
		"Authentication-Results: (x)\r\n MX.OwnMX.test; dkim=pass\r\n"
	msg := forged + testMessage("alice@example.com")
	got, err := deliver(t, c, envelope(ipX, "mta.example.test", "alice@example.com"), msg)
	if code, _ := replyOf(t, err); code != 550 {
		t.Fatalf("forged pass: reply %d (%v), want 550", code, err)
	}
	c.AnnotateOnly = true
	got, err = deliver(t, c, envelope(ipX, "mta.example.test", "alice@example.com"), msg)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(got.msg, "mx.ownmx.test"); n != 1 {
		t.Errorf("%d mentions of our authserv-id, want only our own header:\n%s", n, got.msg)
	}
	if strings.Contains(strings.ToLower(got.msg), "mx.ownmx.test; dkim=pass") {
		t.Errorf("folded forged header kept")
	}
	want := "Authentication-Results: upstream.example; spf=pass smtp.mailfrom=a@example.net\r\n" + testMessage("alice@example.com")
	if !strings.HasSuffix(got.msg, want) {
		t.Errorf("message after our header:\n%q\nwant it to end with\n%q", got.msg, want)
	}
}

// TestGlueSPFAtMail checks the Mail handler: SPF at MAIL FROM, kept for
// the Middleware, next called; and a Middleware without the Mail handler
// checks SPF itself.
func TestGlueSPFAtMail(t *testing.T) {
	c, srv := newChecker(t)
	env := envelope(ip1, "mta.example.test", "alice@example.com")
	nextCalled := false
	mh := c.MailHandler(smtpd.MailFunc(func(ctx context.Context, e *smtpd.Envelope) error {
		nextCalled = true
		return nil
	}))
	if err := mh.Mail(t.Context(), env); err != nil || !nextCalled {
		t.Fatalf("Mail = %v, next called %v", err, nextCalled)
	}
	spf, ok := SPFFrom(env)
	if !ok || spf.Result != Pass || spf.Domain != "example.com" {
		t.Fatalf("SPF kept in the envelope: %+v, %v", spf, ok)
	}
	// A null sender: checked via HELO.
	bounce := envelope(netip.MustParseAddr("192.0.2.3"), "helo.example.com", "")
	if err := c.MailHandler(nil).Mail(t.Context(), bounce); err != nil {
		t.Fatal(err)
	}
	if spf, _ := SPFFrom(bounce); spf.Result != Pass || !spf.UsedHelo() {
		t.Errorf("null sender: %+v", spf)
	}
	// The Middleware uses the kept result: no second SPF query.
	before := srv.Queries("example.com", 16)
	var got received
	h := c.Middleware("mx.ownmx.test")(nextHandler(t, &got))
	if err := h.Data(t.Context(), env, strings.NewReader(testMessage("alice@example.com"))); err != nil {
		t.Fatal(err)
	}
	if after := srv.Queries("example.com", 16); after != before {
		t.Errorf("Middleware asked for example.com TXT again (%d -> %d)", before, after)
	}
	if !strings.Contains(got.msg, "spf=pass smtp.mailfrom=alice@example.com") {
		t.Errorf("header: %s", got.msg)
	}
	// Without the Mail handler, the Middleware checks SPF itself.
	got = received{}
	if err := h.Data(t.Context(), envelope(ip1, "mta.example.test", "alice@example.com"), strings.NewReader(testMessage("alice@example.com"))); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got.msg, "spf=pass smtp.mailfrom=alice@example.com") {
		t.Errorf("header without the Mail handler: %s", got.msg)
	}
}

// TestGlueErrors checks what the glue answers when the message cannot be
// read or checked.
func TestGlueErrors(t *testing.T) {
	c, _ := newChecker(t)
	c.MaxHeaderBytes = 2048
	env := envelope(ip1, "mta.example.test", "alice@example.com")

	var got received
	h := c.Middleware("mx.ownmx.test")(nextHandler(t, &got))
	r := io.MultiReader(strings.NewReader("From: a@example.com\r\n"), iotest.ErrReader(smtpd.ErrMessageTooLarge))
	if err := h.Data(t.Context(), env, r); err != smtpd.ErrMessageTooLarge {
		t.Errorf("reader error: %v, want ErrMessageTooLarge as it is", err)
	}
	for _, msg := range []string{
		"From: a@example.com\r\nnot a header\r\n\r\nbody\r\n",
		"From: a@example.com\r\nX-Big: " + strings.Repeat("x", 4096) + "\r\n\r\nbody\r\n",
	} {
		err := h.Data(t.Context(), env, strings.NewReader(msg))
		if code, enh := replyOf(t, err); code != 554 || enh != "5.6.0" {
			t.Errorf("bad header: reply %d %s (%v), want 554 5.6.0", code, enh, err)
		}
		if got.called {
			t.Errorf("next called for a message with a bad header")
		}
	}
	c.AnnotateOnly = true
	msg := "From: a@example.com\r\nnot a header\r\n\r\nbody\r\n"
	h = c.Middleware("mx.ownmx.test")(nextHandler(t, &got))
	if err := h.Data(t.Context(), env, strings.NewReader(msg)); err != nil || got.msg != msg {
		t.Errorf("annotate only, bad header: %v, next got %q; want the message passed on as it is", err, got.msg)
	}
}

// TestGlueLargeMessage sends a message larger than the spool's memory and
// checks that it reaches next intact, signature verified, with nothing
// left in the spool directory.
func TestGlueLargeMessage(t *testing.T) {
	c, _ := newChecker(t)
	c.SpoolDir = t.TempDir()
	var body strings.Builder
	for i := 0; body.Len() < 2*smtpd.DefaultSpoolMemory; i++ {
		body.WriteString("A long message, line after line, to go past the spool's memory.\r\n")
	}
	msg := sign(t, testMessage("alice@example.com")+body.String(), "example.com", "ed")
	var got received
	next := smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
		es, err := os.ReadDir(c.SpoolDir)
		if err != nil || len(es) != 0 {
			t.Errorf("spool directory holds %v (%v) while the message is passed on", es, err)
		}
		got.called = true
		got.msg = readAll(t, r)
		return nil
	})
	env := envelope(ipX, "mta.example.test", "alice@example.com")
	if err := c.Middleware("mx.ownmx.test")(next).Data(t.Context(), env, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(got.msg, msg) || !strings.Contains(got.msg, "dkim=pass header.d=example.com") {
		t.Errorf("large message not passed on intact and verified (%d bytes, want %d + header)", len(got.msg), len(msg))
	}
	if es, _ := os.ReadDir(c.SpoolDir); len(es) != 0 {
		t.Errorf("spool directory holds %v after the message", es)
	}
}

// TestGlueLog checks the one record per message: stable keys, the
// results, and nothing of the message body.
func TestGlueLog(t *testing.T) {
	c, _ := newChecker(t)
	var buf strings.Builder
	c.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	_, err := deliver(t, c, envelope(ipX, "mta.example.test", "alice@example.org"), testMessage("alice@example.org"))
	if err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"conn=c1", "env=tx1", "from=alice@example.org", "spf=fail", "dmarc=fail", "header_from=example.org", "policy=quarantine", "verdict=quarantine"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "noon") || strings.Contains(out, "Lunch") {
		t.Errorf("log holds message text:\n%s", out)
	}
}

// TestGlueHeaderOnly: a message that is all header, with no empty line
// after it, is passed on byte for byte after our header.
func TestGlueHeaderOnly(t *testing.T) {
	c, _ := newChecker(t)
	c.AnnotateOnly = true
	for _, msg := range []string{
		"From: alice@example.com\r\nSubject: only a header\r\n",
		"From: alice@example.com\r\nSubject: with an empty body\r\n\r\n",
		"From: alice@example.com\r\n\r\nbody\r\n",
	} {
		got, err := deliver(t, c, envelope(ipX, "mta.example.test", "alice@example.com"), msg)
		if err != nil {
			t.Fatal(err)
		}
		ar, rest, ok := strings.Cut(got.msg, "\r\nFrom: ")
		if !ok || !strings.HasPrefix(ar, "Authentication-Results: mx.ownmx.test;") || "From: "+rest != msg {
			t.Errorf("passed on %q, want our header then %q", got.msg, msg)
		}
	}
}

// TestGlueUnusableFrom runs every From of badFrom through the glue, on a
// message that passes SPF and DKIM for ok.example: refused with
// ErrFromRefused by default, Junk with QuarantineUnusableFrom, the inbox
// with a permerror header with AnnotateOnly (RFC 7489 §6.6.1).
func TestGlueUnusableFrom(t *testing.T) {
	c, _ := newChecker(t)
	lo := netip.MustParseAddr("127.0.0.1")
	for _, tc := range badFrom {
		from := onOK(tc.from)
		msg := sign(t, message(fromHead(from)), "ok.example", "sel")
		t.Run(fmt.Sprintf("%q", from), func(t *testing.T) {
			got, err := deliver(t, c, envelope(lo, "mta.ok.example", "bounce@ok.example"), msg)
			var se *smtpd.Error
			if !errors.As(err, &se) || se.Code != 550 || se.Enhanced.String() != "5.7.1" || se.Message != ErrFromRefused.Message || got.called {
				t.Errorf("default: %v, next called %v; want ErrFromRefused", err, got.called)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("default: %v does not wrap %v", err, tc.err)
			}

			junk := *c
			junk.QuarantineUnusableFrom = true
			got, err = deliver(t, &junk, envelope(lo, "mta.ok.example", "bounce@ok.example"), msg)
			if err != nil || !got.called || !got.quarantine || !strings.Contains(got.msg, "\tdmarc=permerror reason=") {
				t.Errorf("QuarantineUnusableFrom: %v, next called %v, Junk %v; want Junk with dmarc=permerror", err, got.called, got.quarantine)
			}

			annotate := *c
			annotate.AnnotateOnly = true
			got, err = deliver(t, &annotate, envelope(lo, "mta.ok.example", "bounce@ok.example"), msg)
			if err != nil || !got.called || got.quarantine || !strings.HasSuffix(got.msg, msg) || !strings.Contains(got.msg, "\tdmarc=permerror reason=") {
				t.Errorf("AnnotateOnly: %v, next called %v, Junk %v; want the inbox with dmarc=permerror", err, got.called, got.quarantine)
			}
		})
	}
}

// authservIDs are spellings of authserv-ids, and whether each names
// mx.ownmx.test.
var authservIDs = []struct {
	id     string
	forged bool
}{
	{"mx.ownmx.test", true},
	{"mx.ownmx.test.", true},
	{"MX.OWNMX.TEST.", true},
	{"Mx.OwnMx.Test", true},
	{"(forged) mx.ownmx.test.", true},
	{"(a (nested) comment)\r\n\tmx.ownmx.test.", true},
	{"\r\n mx.ownmx.test.", true},
	{`"mx.ownmx.test."`, true},
	{`"MX.ownmx.test"`, true},
	{`(c) "mx.ownmx.test."`, true},
	{`" mx.ownmx.test. "`, true},
	{`"mx.own\mx.test"`, true},
	{"mx.ownmx.test.(comment)", true},
	{"ｍｘ.ownmx.test", true},
	{"mx.ownmx.test.evil", false},
	{"evil.mx.ownmx.test", false},
	{"mx.ownmx.test..", false},
	{"mx-ownmx.test", false},
	{`"mx.ownmx.test.evil"`, false},
}

// TestGlueForgedSpellings: an Authentication-Results field whose
// authserv-id names this host in any spelling is removed (RFC 8601 §5),
// the others are kept.
func TestGlueForgedSpellings(t *testing.T) {
	c, _ := newChecker(t)
	c.AnnotateOnly = true
	for _, tc := range authservIDs {
		t.Run(tc.id, func(t *testing.T) {
			field := "Authentication-Results: " + tc.id + "; dmarc=pass header.from=example.com\r\n"
			msg := field + testMessage("alice@example.com")
			got, err := deliver(t, c, envelope(ipX, "mta.example.test", "alice@example.com"), msg)
			if err != nil {
				t.Fatal(err)
			}
			if kept := strings.Contains(got.msg, field); kept == tc.forged {
				t.Errorf("field %q kept: %v, want %v:\n%s", field, kept, !tc.forged, got.msg)
			}
			if !strings.HasSuffix(got.msg, testMessage("alice@example.com")) {
				t.Errorf("message not kept intact after the header:\n%s", got.msg)
			}
		})
	}
}

// TestRepliesASCII: the glue's replies are printable US-ASCII, as SMTP
// replies must be (RFC 5321 §4.2).
func TestRepliesASCII(t *testing.T) {
	for _, e := range []*smtpd.Error{ErrRejected, ErrFromRefused, ErrDeferred, ErrUnfinished, ErrHeaderRefused} {
		for _, r := range e.Message {
			if r < 0x20 || r > 0x7e {
				t.Errorf("reply %d %s %q holds %q", e.Code, e.Enhanced, e.Message, r)
				break
			}
		}
	}
}
