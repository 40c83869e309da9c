package auth

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ownmx/ownmx/dnsx"
	"github.com/ownmx/ownmx/dnsx/dnstest"
	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// The attacks of issue 10, sent end to end: a real smtpd.Server with the
// auth glue on loopback, DNS from dnstest, go-smtp's client, and messages
// signed with DKIM. The client is on 127.0.0.1, from which
// attacker.example and ok.example pass SPF.

// mx is a server with the auth glue in front of a memStore.
type mx struct {
	addr  string
	store *memStore
}

// startMX starts a server that checks mail with c.
func startMX(t *testing.T, c *Checker) *mx {
	t.Helper()
	m := &mx{store: &memStore{}}
	m.addr = smtptest.Start(t, &smtpd.Server{
		Hostname: "mx.ownmx.test",
		Mail:     c.MailHandler(nil),
		Rcpt:     smtpd.AcceptDomains("ownmx.test"),
		Data:     smtpd.Chain(m.store, c.Middleware("mx.ownmx.test")),
	})
	return m
}

// outcome is what a sender and the recipient see of one message.
type outcome struct {
	code     int    // the reply to DATA (or the first refusal)
	enhanced string // its enhanced code
	text     string // its text
	junk     bool   // stored in Junk
	head     string // the stored header, "" when nothing was stored
}

func (o outcome) String() string {
	switch {
	case o.code != 250:
		return fmt.Sprintf("%d %s", o.code, o.enhanced)
	case o.junk:
		return "250, stored in Junk"
	}
	return "250, stored in the inbox"
}

// send sends msg with MAIL FROM mailFrom and reports the outcome; a
// refused message must leave nothing in the store.
func (m *mx) send(t *testing.T, mailFrom, msg string) outcome {
	t.Helper()
	err := smtptest.Send(m.addr, mailFrom, []string{"bob@ownmx.test"}, msg)
	o := outcome{code: 250}
	if err != nil {
		var se *smtpd.Error
		if !errors.As(err, &se) {
			t.Fatalf("Send: %v", err)
		}
		o.code, o.enhanced, o.text = se.Code, se.Enhanced.String(), se.Message
	}
	got := m.store.take()
	switch {
	case o.code != 250 && len(got) != 0:
		t.Fatalf("refused message (%d) stored anyway", o.code)
	case o.code == 250 && len(got) != 1:
		t.Fatalf("%d messages stored, want 1", len(got))
	case o.code == 250:
		o.junk = got[0].junk
		o.head, _, _ = strings.Cut(got[0].msg, "\r\n\r\n")
	}
	return o
}

// message is a small message whose header starts with head (CRLF-ended
// fields, From among them or not).
func message(head string) string {
	return head +
		"To: bob@ownmx.test\r\n" +
		"Subject: Wire transfer\r\n" +
		"Date: Sun, 1 Mar 2026 12:00:00 +0000\r\n" +
		"Message-ID: <2@attacker.example>\r\n" +
		"\r\n" +
		"Please pay the attached invoice today.\r\n"
}

// wantRefused fails the test unless o is the reply want (550 5.7.1).
func wantRefused(t *testing.T, o outcome, want *smtpd.Error) {
	t.Helper()
	if o.code != want.Code || o.enhanced != want.Enhanced.String() || o.text != want.Message {
		t.Errorf("got %v %q, want %d %s %q\n%s", o, o.text, want.Code, want.Enhanced, want.Message, o.head)
	}
}

// TestAttackIDNAuthor: a From domain in U-labels, or a look-alike that
// UTS #46 folds to ASCII, is the A-label domain whose p=reject applies
// (RFC 8616 §4). victim.example, kx.example and xn--bcher-kva.example
// publish p=reject; the attacker passes SPF and DKIM for its own domain.
func TestAttackIDNAuthor(t *testing.T) {
	c, _ := newChecker(t)
	m := startMX(t, c)
	for _, author := range []string{
		"ceo@xn--bcher-kva.example", // the A-label spelling was refused before
		"ceo@bücher.example",
		"ceo@BÜCHER.example",
		"ceo@Bücher.Example",
		"ceo@ｂüｃｈｅｒ.example",
		"ceo@ｘｎ--bcher-kva.example",
		"ceo@victim.example",
		"ceo@ｖｉｃｔｉｍ.example",
		"ceo@ＶＩＣＴＩＭ.ＥＸＡＭＰＬＥ",
		"ceo@victim．example",
		"ceo@victim。example",
		"ceo@\u2174ictim.example",
		"ceo@\u2164ictim.example",
		"ceo@\u24E5ictim.example",
		"ceo@\U0001D42Fictim.example",
		"ceo@vic\u00ADtim.example",
		"ceo@vic\u200Btim.example",
		"ceo@\u212Ax.example",
		"ceo@\u212AX.EXAMPLE",
		"ceo@ｋｘ.example",
	} {
		for _, how := range []struct {
			name string
			sign bool
		}{{"unsigned", false}, {"signed by the attacker", true}} {
			t.Run(author+"/"+how.name, func(t *testing.T) {
				msg := message("From: CEO <" + author + ">\r\n")
				if how.sign {
					msg = sign(t, msg, "attacker.example", "sel")
				}
				o := m.send(t, "bounce@attacker.example", msg)
				t.Logf("From: CEO <%s>, MAIL FROM:<bounce@attacker.example>, %s -> %v", author, how.name, o)
				wantRefused(t, o, ErrRejected)
			})
		}
	}

	// The genuine sender of bücher.example passes, strictly aligned, by
	// SPF with MAIL FROM in U-labels, or by DKIM with d= in A-labels.
	for _, tc := range []struct {
		name, mailFrom, msg, header string
	}{
		{"SPF for a U-label MAIL FROM", "ceo@bücher.example", message("From: CEO <ceo@bücher.example>\r\n"),
			"dmarc=pass header.from=xn--bcher-kva.example"},
		{"DKIM d= in A-labels", "bounce@attacker.example",
			sign(t, message("From: CEO <ceo@Bücher.example>\r\n"), "xn--bcher-kva.example", "ed"),
			"dmarc=pass header.from=xn--bcher-kva.example"},
	} {
		t.Run("genuine/"+tc.name, func(t *testing.T) {
			o := m.send(t, tc.mailFrom, tc.msg)
			if o.code != 250 || o.junk || !strings.Contains(o.head, "\t"+tc.header+"\r\n") {
				t.Errorf("got %v, want the inbox with %q:\n%s", o, tc.header, o.head)
			}
		})
	}
}

// zoneString writes s as one TXT character-string of a zone file.
func zoneString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < ' ' || c > '~':
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// TestAttackSloppyRecord: each careless p=reject record of rejectKept is
// published by its own domain, and a forged message from it gets 550
// (RFC 7489 §6.3: malformed tags are ignored, p= stays).
func TestAttackSloppyRecord(t *testing.T) {
	var zone strings.Builder
	zone.WriteString("test. 3600 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 300\n")
	for i, rec := range rejectKept {
		fmt.Fprintf(&zone, "_dmarc.r%d.test. IN TXT %s\n", i, zoneString(rec))
	}
	zone.WriteString("_dmarc.rua.test. IN TXT \"v=DMARC1; p=bogus; rua=mailto:d@rua.test\"\n")
	zone.WriteString("_dmarc.bad.test. IN TXT \"v=DMARC1; p=bogus; adkim=s\"\n")
	srv := dnstest.NewServer(t, zone.String())
	c := &Checker{
		Resolver: &dnsx.Client{Nameserver: srv.Addr, Timeout: time.Second, Attempts: 1},
		Timeout:  5 * time.Second,
		Logger:   slog.New(slog.DiscardHandler),
		Now:      func() time.Time { return testNow },
		Rand:     func(int) int { return 99 }, // a pct= below 100 would leave every message out
	}
	m := startMX(t, c)
	for i, rec := range rejectKept {
		t.Run(rec, func(t *testing.T) {
			o := m.send(t, "bounce@attacker.example", message(fmt.Sprintf("From: CEO <ceo@r%d.test>\r\n", i)))
			t.Logf("_dmarc.r%d.test %q -> %v", i, rec, o)
			wantRefused(t, o, ErrRejected)
		})
	}
	// RFC 7489 §6.6.3 step 6: a bad p= with a valid rua= is p=none; with
	// none, no policy applies.
	for _, tc := range []struct{ domain, header string }{
		{"rua.test", `dmarc=fail reason="policy none" header.from=rua.test`},
		{"bad.test", `dmarc=none reason="invalid DMARC record" header.from=bad.test`},
	} {
		t.Run(tc.domain, func(t *testing.T) {
			o := m.send(t, "bounce@attacker.example", message("From: ceo@"+tc.domain+"\r\n"))
			if o.code != 250 || o.junk || !strings.Contains(o.head, "\t"+tc.header+"\r\n") {
				t.Errorf("got %v, want the inbox with %q:\n%s", o, tc.header, o.head)
			}
		})
	}
}

// fromHead returns the From fields of a header: one per value, none for
// nil.
func fromHead(from []string) string {
	var b strings.Builder
	for _, v := range from {
		b.WriteString("From: " + v + "\r\n")
	}
	return b.String()
}

// onOK moves the From values of badFrom to ok.example, a domain for which
// the message passes SPF and DKIM: were the From read leniently, DMARC
// would pass.
func onOK(from []string) []string {
	var out []string
	for _, v := range from {
		out = append(out, strings.ReplaceAll(v, "victim.example", "ok.example"))
	}
	return out
}

// TestAttackUnusableFrom: a From header that DMARC cannot judge cleanly
// is refused with 550 5.7.1 whatever DKIM and SPF say (RFC 5322 §3.6.2,
// RFC 7489 §6.6.1): the replay of a message signed by victim.example with
// a second From prepended, and every From of badFrom on a message that
// passes SPF and DKIM for ok.example.
func TestAttackUnusableFrom(t *testing.T) {
	c, _ := newChecker(t)
	m := startMX(t, c)

	genuine := sign(t, message("From: Newsletter <news@victim.example>\r\n"), "victim.example", "sel")
	for _, tc := range []struct{ name, msg string }{
		{"second From prepended", "From: CEO <ceo@victim.example>\r\n" + genuine},
		{"same From prepended", "From: Newsletter <news@victim.example>\r\n" + genuine},
		{"From in capitals prepended", "FROM: CEO <ceo@victim.example>\r\n" + genuine},
		{"From with a space before the colon prepended", "From : CEO <ceo@victim.example>\r\n" + genuine},
		{"From of another domain prepended", "From: CEO <ceo@example.net>\r\n" + genuine},
		{"second From appended to the header", strings.Replace(genuine, "\r\n\r\n", "\r\nFrom: CEO <ceo@victim.example>\r\n\r\n", 1)},
	} {
		t.Run("replay/"+tc.name, func(t *testing.T) {
			o := m.send(t, "bounce@attacker.example", tc.msg)
			t.Logf("replay, %s -> %v", tc.name, o)
			wantRefused(t, o, ErrFromRefused)
		})
	}
	t.Run("replay/the genuine message alone", func(t *testing.T) {
		if o := m.send(t, "bounce@attacker.example", genuine); o.code != 250 || o.junk {
			t.Errorf("genuine message: %v, want the inbox", o)
		}
	})

	for _, tc := range badFrom {
		from := onOK(tc.from)
		t.Run(fmt.Sprintf("malformed/%q", from), func(t *testing.T) {
			msg := sign(t, message(fromHead(from)), "ok.example", "sel")
			o := m.send(t, "bounce@ok.example", msg)
			t.Logf("From %q, SPF and DKIM pass for ok.example -> %v", from, o)
			wantRefused(t, o, ErrFromRefused)
		})
	}
	for _, from := range []string{
		"ceo@ok.example",
		"CEO <ceo@OK.example>",
		"CEO<ceo@ok.example>",
		"<ceo@ok.example>",
		`"Smith, Alice" <ceo@ok.example>`,
		"John Q. Public <ceo@ok.example>",
		"CEO (x) <ceo@ok.example> (y)",
		"=?utf-8?q?C=C3=A9o?= <ceo@ok.example>",
		`"a@b"@ok.example`,
		"ceo@ok.example (comment)",
		"Jörg <jörg@ok.example>",
		"ceo@ｏｋ.example",
	} {
		t.Run(fmt.Sprintf("well-formed/%q", from), func(t *testing.T) {
			msg := sign(t, message("From: "+from+"\r\n"), "ok.example", "sel")
			o := m.send(t, "bounce@ok.example", msg)
			if o.code != 250 || o.junk || !strings.Contains(o.head, "\tdmarc=pass header.from=ok.example\r\n") {
				t.Errorf("From %q: %v, want the inbox with dmarc=pass:\n%s", from, o, o.head)
			}
		})
	}
}

// TestAttackUnusableFromOptions: QuarantineUnusableFrom puts such
// messages in Junk, unless a domain's p=reject refuses them anyway, and
// AnnotateOnly only annotates.
func TestAttackUnusableFromOptions(t *testing.T) {
	c, _ := newChecker(t)
	junk := *c
	junk.QuarantineUnusableFrom = true
	annotate := *c
	annotate.AnnotateOnly = true
	mJunk, mAnnotate := startMX(t, &junk), startMX(t, &annotate)

	replay := "From: CEO <ceo@victim.example>\r\n" + sign(t, message("From: Newsletter <news@victim.example>\r\n"), "victim.example", "sel")
	malformed := sign(t, message("From: CEO <ceo@(x)ok.example>\r\n"), "ok.example", "sel")
	forgedTwo := message("From: ceo@victim.example\r\nFrom: ceo@ok.example\r\n")
	for _, tc := range []struct {
		name     string
		m        *mx
		msg      string
		want     string // outcome
		dmarcArg string // the dmarc= result of the stored header
	}{
		{"quarantine: replay", mJunk, replay, "250, stored in Junk", `dmarc=permerror reason="several From addresses" header.from=victim.example`},
		{"quarantine: malformed", mJunk, malformed, "250, stored in Junk", `dmarc=permerror reason="invalid From header"`},
		{"quarantine: two authors, one failing p=reject", mJunk, forgedTwo, "550 5.7.1", ""},
		{"annotate only: replay", mAnnotate, replay, "250, stored in the inbox", `dmarc=permerror reason="several From addresses" header.from=victim.example`},
		{"annotate only: malformed", mAnnotate, malformed, "250, stored in the inbox", `dmarc=permerror reason="invalid From header"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.m.send(t, "bounce@ok.example", tc.msg)
			if o.String() != tc.want || !strings.Contains(o.head, "\t"+tc.dmarcArg+"\r\n") && tc.dmarcArg != "" {
				t.Errorf("got %v, want %s with %q:\n%s", o, tc.want, tc.dmarcArg, o.head)
			}
		})
	}
}

// TestAttackForgedAuthservID: a forged Authentication-Results field that
// names this host in any spelling does not reach the mailbox (RFC 8601
// §5). The server annotates only, so that every message is stored.
func TestAttackForgedAuthservID(t *testing.T) {
	c, _ := newChecker(t)
	c.AnnotateOnly = true
	m := startMX(t, c)
	for _, tc := range authservIDs {
		t.Run(tc.id, func(t *testing.T) {
			field := "Authentication-Results: " + tc.id + "; dmarc=pass header.from=victim.example\r\n"
			o := m.send(t, "bounce@attacker.example", field+message("From: CEO <ceo@victim.example>\r\n"))
			if o.code != 250 {
				t.Fatalf("got %v, want 250 (annotate only)", o)
			}
			if kept := strings.Contains(o.head, field); kept == tc.forged {
				t.Errorf("field %q kept: %v, want %v:\n%s", field, kept, !tc.forged, o.head)
			}
			if !strings.Contains(o.head, "\tdmarc=fail reason=\"policy reject\" header.from=victim.example\r\n") {
				t.Errorf("our own header missing:\n%s", o.head)
			}
		})
	}
}
