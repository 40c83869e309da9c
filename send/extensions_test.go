package send_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ownmx/ownmx/smtpd"
)

// RFC 6531: SMTPUTF8 only for an address that needs it. An ASCII local
// part at a domain in U-labels travels in A-labels without it.
func TestSendSMTPUTF8(t *testing.T) {
	tests := []struct {
		from, to     string
		wantFrom     string
		wantRcpt     string
		wantSMTPUTF8 bool
	}{
		{"alice@origin.test", "bob@example.test", "alice@origin.test", "bob@example.test", false},
		{"alice@origin.test", "bob@bücher.test", "alice@origin.test", "bob@xn--bcher-kva.test", false},
		{"alice@bücher.test", "bob@example.test", "alice@xn--bcher-kva.test", "bob@example.test", false},
		{"alice@origin.test", "jürgen@bücher.test", "alice@origin.test", "jürgen@bücher.test", true},
		{"jürgen@origin.test", "bob@example.test", "jürgen@origin.test", "bob@example.test", true},
		{"", "δοκιμή@example.test", "", "δοκιμή@example.test", true},
	}
	for _, tt := range tests {
		t.Run(tt.from+" "+tt.to, func(t *testing.T) {
			w := newWorld(t,
				"example.test. IN MX 10 mx1.example.test.",
				"xn--bcher-kva.test. IN MX 10 mx1.example.test.",
				"mx1.example.test. IN A 127.0.0.2",
			)
			mx1 := newReceiver("mx1.example.test")
			w.serve("127.0.0.2", mx1.Server)
			if err := w.sender().Send(t.Context(), tt.from, tt.to, msgOf(testMsg)); err != nil {
				t.Fatal(err)
			}
			got := mx1.one(t)
			if got.from != tt.wantFrom || !slices.Equal(got.rcpt, []string{tt.wantRcpt}) || got.smtputf8 != tt.wantSMTPUTF8 {
				t.Errorf("got %q -> %q SMTPUTF8 %v, want %q -> %q SMTPUTF8 %v", got.from, got.rcpt, got.smtputf8, tt.wantFrom, tt.wantRcpt, tt.wantSMTPUTF8)
			}
		})
	}
}

// A server without SMTPUTF8 cannot take a non-ASCII address: the message
// is refused for good before MAIL, and the session ends with QUIT.
func TestSendSMTPUTF8Missing(t *testing.T) {
	w := newWorld(t, twoMX...)
	f := w.fakeMTA("127.0.0.2", []string{"8BITMIME"}, nil)
	w.refuse("127.0.0.3")
	err := w.sender().Send(t.Context(), "alice@origin.test", "jürgen@example.test", msgOf(testMsg))
	e := sendErr(t, err)
	if !e.Permanent || e.Enhanced != (smtpd.EnhancedCode{5, 6, 7}) || !strings.Contains(e.Message, "SMTPUTF8") {
		t.Errorf("error %v, want permanent 5.6.7 about SMTPUTF8", err)
	}
	if got, want := f.read(), []string{"EHLO out.origin.test", "QUIT"}; !slices.Equal(got, want) {
		t.Errorf("the server read %q, want %q", got, want)
	}
	if d := w.dialed(); len(d) != 1 {
		t.Errorf("dialed %v, want mx1 only", d)
	}
}

// RFC 1870: a message over the server's SIZE is refused for good before
// MAIL (5.3.4); one of exactly SIZE goes.
func TestSendSIZE(t *testing.T) {
	for _, tt := range []struct {
		max       int
		delivered bool
	}{{len(testMsg) - 1, false}, {len(testMsg), true}, {0, true}} {
		w := newWorld(t, twoMX...)
		f := w.fakeMTA("127.0.0.2", []string{"SIZE " + strconv.Itoa(tt.max)}, nil)
		err := w.sender().Send(t.Context(), "alice@origin.test", "bob@example.test", msgOf(testMsg))
		mail := slices.ContainsFunc(f.read(), func(l string) bool { return strings.HasPrefix(l, "MAIL FROM:") })
		if tt.delivered {
			if err != nil || !mail {
				t.Errorf("SIZE %d: %v, MAIL sent %v", tt.max, err, mail)
			}
			continue
		}
		e := sendErr(t, err)
		if !e.Permanent || e.Enhanced != (smtpd.EnhancedCode{5, 3, 4}) || e.Host != "mx1.example.test" {
			t.Errorf("SIZE %d: error %v, want permanent 5.3.4 from mx1", tt.max, err)
		}
		if mail || len(w.dialed()) != 1 {
			t.Errorf("SIZE %d: MAIL sent %v, dialed %v", tt.max, mail, w.dialed())
		}
	}
}

// Without 8BITMIME nor SIZE offered, MAIL FROM carries neither (RFC 6152,
// RFC 1870).
func TestSendNoExtensions(t *testing.T) {
	w := newWorld(t, twoMX...)
	f := w.fakeMTA("127.0.0.2", []string{"PIPELINING"}, nil)
	if err := w.sender().Send(t.Context(), "alice@origin.test", "bob@example.test", msgOf(testMsg)); err != nil {
		t.Fatal(err)
	}
	if got := f.read(); !slices.Contains(got, "MAIL FROM:<alice@origin.test>") {
		t.Errorf("the server read %q", got)
	}
}
