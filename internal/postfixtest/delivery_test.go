package postfixtest

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// TestDeliveryArrivesUnchanged sends messages of each kind through a real
// SMTP conversation and finds each in the recipient's Maildir byte for
// byte below the trace headers Postfix adds, with the client's address in
// Received.
func TestDeliveryArrivesUnchanged(t *testing.T) {
	t.Parallel()
	in := Start(t, Options{Domains: []string{"example.com", "example.net"}})
	tests := []struct {
		name string
		from string
		to   string
		msg  string
	}{
		{"plain", "sender@example.org", "alice@example.com",
			"From: sender@example.org\r\nTo: alice@example.com\r\nSubject: plain\r\n\r\nHello.\r\n"},
		{"no Message-ID, Date or To", "sender@example.org", "bob@example.com",
			"Subject: bare\r\n\r\nNothing is added.\r\n"},
		{"second domain", "sender@example.org", "carol@example.net",
			"Subject: other domain\r\n\r\nbody\r\n"},
		{"8-bit body", "sender@example.org", "dave@example.com",
			"Subject: =?utf-8?q?caf=C3=A9?=\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nCafé, naïve, 日本語.\r\n"},
		{"SMTPUTF8 addresses", "sénder@example.org", "zoë@example.com",
			"From: sénder@example.org\r\nTo: zoë@example.com\r\nSubject: ünïcode\r\n\r\nÜber.\r\n"},
		{"dot-stuffed lines", "sender@example.org", "erin@example.com",
			"Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nend\r\n"},
		{"folded header and long line", "sender@example.org", "frank@example.com",
			"Subject: a folded\r\n header\r\nX-Long: " + strings.Repeat("x", 900) + "\r\n\r\n" + strings.Repeat("y", 990) + "\r\n"},
		{"empty sender", "", "grace@example.com",
			"Subject: a bounce\r\n\r\nfrom <>\r\n"},
		{"recipient in capitals", "sender@example.org", "Heidi@EXAMPLE.com",
			"Subject: case\r\n\r\nbody\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := smtptest.Send(in.Addr, tc.from, []string{tc.to}, tc.msg); err != nil {
				t.Fatal(err)
			}
			msg := in.Wait(t, tc.to, 1)[0]
			trace, rest := splitTrace(t, msg)
			if m := traceHeader.FindStringSubmatch(trace); m[1] != tc.to || m[2] != "127.0.0.1" {
				t.Errorf("Delivered-To %q and client [%s], want %q and [127.0.0.1]:\n%s", m[1], m[2], tc.to, trace)
			}
			with := "with ESMTP id "
			if strings.ContainsFunc(tc.from+tc.to, func(r rune) bool { return r > 0x7f }) {
				with = "with UTF8SMTP id " // RFC 6531 §4.3
			}
			if !strings.Contains(trace, "\n\tby "+Hostname+" (Postfix) "+with) {
				t.Errorf("Received does not say %q:\n%s", with, trace)
			}
			if !strings.HasPrefix(trace, "Return-Path: <"+tc.from+">\n") {
				t.Errorf("trace does not start with Return-Path: <%s>:\n%s", tc.from, trace)
			}
			if want := withLF(tc.msg); !bytes.Equal(rest, want) {
				t.Errorf("message below the trace headers:\n%q\nwant\n%q", rest, want)
			}
		})
	}
}

// TestReceivedNamesClient shows the client's address in Postfix's
// Received header, which tests of senders read.
func TestReceivedNamesClient(t *testing.T) {
	t.Parallel()
	in := Start(t, Options{Domains: []string{"example.com"}})
	for _, client := range []string{"127.0.0.1", "127.0.0.77", "127.1.2.3"} {
		to := "ip-" + client + "@example.com"
		if err := smtptest.Send(in.Addr, "s@example.org", []string{to}, "Subject: ip\r\n\r\nx\r\n",
			smtptest.LocalAddr(netip.MustParseAddr(client)), smtptest.Helo("sender.test")); err != nil {
			t.Fatal(err)
		}
		trace, _ := splitTrace(t, in.Wait(t, to, 1)[0])
		want := "Received: from sender.test (unknown [" + client + "])\n\tby " + Hostname + " (Postfix) with ESMTP id "
		if !strings.Contains(trace, want) {
			t.Errorf("client %s: trace headers\n%s\nlack %q", client, trace, want)
		}
	}
}

// TestEachRecipientGetsACopy sends one message to three recipients and
// finds one copy for each, told apart by Delivered-To; Wait counts only
// the copies of the address it is given.
func TestEachRecipientGetsACopy(t *testing.T) {
	t.Parallel()
	in := Start(t, Options{Domains: []string{"example.com"}})
	to := []string{"a@example.com", "b@example.com", "c@example.com"}
	msg := "Subject: many\r\n\r\nfor three\r\n"
	if err := smtptest.Send(in.Addr, "s@example.org", to, msg); err != nil {
		t.Fatal(err)
	}
	if err := smtptest.Send(in.Addr, "s@example.org", to[:1], "Subject: second\r\n\r\nfor a\r\n"); err != nil {
		t.Fatal(err)
	}
	for _, rcpt := range to[1:] {
		got := in.Wait(t, rcpt, 1)
		if m := traceHeader.FindSubmatch(got[0]); m == nil || string(m[1]) != rcpt {
			t.Errorf("copy for %s:\n%s", rcpt, got[0])
		}
	}
	got := in.Wait(t, "a@example.com", 2)
	for i, subject := range []string{"many", "second"} {
		if _, rest := splitTrace(t, got[i]); !bytes.HasPrefix(rest, []byte("Subject: "+subject+"\n")) {
			t.Errorf("message %d for a@example.com, want Subject %q, in the order sent:\n%s", i, subject, got[i])
		}
	}
}
