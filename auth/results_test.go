package auth

import (
	"bufio"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n got: %q\nwant: %q", path, got, want)
	}
}

// TestAuthenticationResults runs whole messages through Check and compares
// the header with golden files (RFC 8601 §2.2, §2.7).
func TestAuthenticationResults(t *testing.T) {
	c, srv := newChecker(t)
	srv.ServFail("sel._domainkey.example.org")
	c.Rand = func(int) int { return 99 }
	msg := testMessage("alice@example.com")
	for _, tc := range []struct {
		name     string
		ip       netip.Addr
		helo     string
		mailFrom string
		msg      string
		verdict  Verdict
	}{
		{"pass", ip1, "mta.example.com", "alice@example.com", sign(t, msg, "example.com", "sel"), Deliver},
		{"pass-ed25519-subdomain", ip2, "mta.example.com", "bounce@mail.example.com", sign(t, msg, "mail.example.com", "ed"), Deliver},
		{"fail-reject", ipX, "mta.example.com", "alice@example.com", msg, Reject},
		{"fail-quarantine", ipX, "mta.example.org", "alice@example.org", testMessage("alice@example.org"), Quarantine},
		{"dkim-fail-spf-pass", ip1, "mta.example.com", "alice@example.com", strings.Replace(sign(t, msg, "example.com", "sel"), "noon", "one", 1), Deliver},
		{"null-sender-helo", netip.MustParseAddr("192.0.2.3"), "helo.example.com", "", testMessage("mailer-daemon@helo.example.com"), Deliver},
		{"temperror-defer", ipX, "mta.example.org", "alice@example.org", sign(t, testMessage("alice@example.org"), "example.org", "sel"), Defer},
		{"no-from", ip1, "mta.example.com", "alice@example.com", strings.Replace(msg, "From: Alice <alice@example.com>\r\n", "", 1), Reject},
		{"sneaky-values", ip1, "mta.example.com", `"x;dmarc=pass"@example.com`, sign(t, msg, "example.com", "sel", withIdentifier(`"a;b"@example.com`)), Deliver},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spf := c.SPF(t.Context(), tc.ip, tc.helo, tc.mailFrom)
			res, err := c.Check(t.Context(), spf, strings.NewReader(tc.msg))
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict() != tc.verdict {
				t.Errorf("verdict %s (%v), want %s", res.Verdict(), res.DMARC.Err, tc.verdict)
			}
			field := res.AuthenticationResults("mx.ownmx.test")
			golden(t, "authres/"+tc.name+".txt", field)

			// The field must parse back, as RFC 8601 and authres read it,
			// with our id and no more results than we wrote.
			h, err := textproto.ReadHeader(bufio.NewReader(strings.NewReader(field + "\r\n")))
			if err != nil {
				t.Fatal(err)
			}
			id, results, err := authres.Parse(h.Get("Authentication-Results"))
			if err != nil || id != "mx.ownmx.test" {
				t.Fatalf("authres.Parse = %q, %v", id, err)
			}
			if want := 2 + max(len(res.DKIM), 1); len(results) != want {
				t.Errorf("parsed %d results, want %d", len(results), want)
			}
			for _, r := range results {
				if d, ok := r.(*authres.DMARCResult); ok && string(d.Value) != string(res.DMARC.Result) {
					t.Errorf("dmarc=%s parsed back, want %s", d.Value, res.DMARC.Result)
				}
			}
			for line := range strings.SplitSeq(field, "\r\n") {
				if len(line) > 998 {
					t.Errorf("line of %d octets (RFC 5322 §2.1.1)", len(line))
				}
			}
		})
	}
}

func withIdentifier(i string) func(o *dkim.SignOptions) {
	return func(o *dkim.SignOptions) { o.Identifier = i }
}

func TestAuthservID(t *testing.T) {
	for in, want := range map[string]string{
		"mx.ownmx.test; spf=pass":                  "mx.ownmx.test",
		"mx.ownmx.test 1; dkim=pass":               "mx.ownmx.test",
		"  (forged) mx.ownmx.test;":                "mx.ownmx.test",
		"(a (nested) comment)\r\n\tMX.ownmx.test;": "MX.ownmx.test",
		`"mx.ownmx.test"; none`:                    "mx.ownmx.test",
		`"mx.own\"mx"; none`:                       `mx.own"mx`,
		"mx.ownmx.test(comment); none":             "mx.ownmx.test",
		"other.example; spf=pass":                  "other.example",
		"":                                         "",
		"(unclosed comment mx.ownmx.test":          "",
		`"unclosed`:                                "",
	} {
		if got := AuthservID(in); got != want {
			t.Errorf("AuthservID(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRemoveForged checks RFC 8601 §5: fields claiming our authserv-id go,
// the others stay, in order.
func TestRemoveForged(t *testing.T) {
	msg := "Authentication-Results: mx.ownmx.test; dmarc=pass header.from=paypal.com\r\n" +
		"Authentication-Results: other.example; spf=pass smtp.mailfrom=a@example.com\r\n" +
		"Authentication-Results: (sneaky)\r\n MX.OWNMX.TEST; dkim=pass\r\n" +
		"authentication-results: mx.ownmx.test.evil; spf=pass\r\n" +
		"Authentication-Results: mx.ownmx.test.; dmarc=pass header.from=paypal.com\r\n" +
		"Authentication-Results: (c) \"MX.OwnMX.Test.\"; dmarc=pass header.from=paypal.com\r\n" +
		"From: a@example.com\r\n\r\nbody\r\n"
	h, err := textproto.ReadHeader(bufio.NewReader(strings.NewReader(msg)))
	if err != nil {
		t.Fatal(err)
	}
	if n := removeForged(&h, "mx.ownmx.test"); n != 4 {
		t.Errorf("removed %d fields, want 4", n)
	}
	got := h.Values("Authentication-Results")
	want := []string{"other.example; spf=pass smtp.mailfrom=a@example.com", "mx.ownmx.test.evil; spf=pass"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("left %q, want %q", got, want)
	}
}

// TestSameAuthservID checks which spellings of an authserv-id name our
// host (RFC 8601 §5).
func TestSameAuthservID(t *testing.T) {
	for _, tc := range []struct {
		id, ours string
		same     bool
	}{
		{"mx.example.com", "mx.example.com", true},
		{"mx.example.com.", "mx.example.com", true},
		{"MX.Example.COM.", "mx.example.com", true},
		{"mx.example.com", "MX.example.com.", true},
		{" mx.example.com. ", "mx.example.com", true},
		{"mx.bücher.example", "mx.xn--bcher-kva.example", true},
		{"MX.XN--BCHER-KVA.example.", "mx.bücher.example", true},
		{"ｍｘ.example.com", "mx.example.com", true},
		{"Kmx.example", "kmx.example", true},
		{"mx", "mx", true},
		{"mx.", "MX", true},
		{"mx.example.com..", "mx.example.com", false},
		{"mx.example.com.evil", "mx.example.com", false},
		{"evil.mx.example.com", "mx.example.com", false},
		{"", "mx.example.com", false},
		{".", "mx.example.com", false},
	} {
		if got := sameAuthservID(tc.id, tc.ours); got != tc.same {
			t.Errorf("sameAuthservID(%q, %q) = %v, want %v", tc.id, tc.ours, got, tc.same)
		}
	}
}

func TestCheckHeaderErrors(t *testing.T) {
	c, _ := newChecker(t)
	c.MaxHeaderBytes = 1024
	spf := SPFResult{Result: None}
	boom := errors.New("connection lost")
	for _, tc := range []struct {
		name string
		msg  string
		r    func(string) *strings.Reader
		want error
	}{
		{"header too large", "From: a@example.com\r\nX-Big: " + strings.Repeat("x", 2000) + "\r\n\r\nbody\r\n", nil, ErrHeaderTooLarge},
		{"header too large without end", "From: a@example.com\r\nX-Big: " + strings.Repeat("x", 2000), nil, ErrHeaderTooLarge},
		{"line without colon", "From: a@example.com\r\nnot a header line\r\n\r\nbody\r\n", nil, ErrMalformedHeader},
		{"continuation first", " folded\r\nFrom: a@example.com\r\n\r\n", nil, ErrMalformedHeader},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Check(t.Context(), spf, strings.NewReader(tc.msg))
			if !errors.Is(err, tc.want) {
				t.Errorf("Check: %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := c.Check(t.Context(), spf, iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Errorf("Check with a failing reader: %v, want %v", err, boom)
	}
	// A header that ends at the end of the message, without a body, is fine.
	res, err := c.Check(t.Context(), spf, strings.NewReader("From: a@norecord.test\r\nSubject: x\r\n"))
	if err != nil || res.DMARC.Result != None {
		t.Errorf("header-only message: %+v, %v", res, err)
	}
}
