package auth

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/emersion/go-msgauth/dkim"
)

func TestDKIM(t *testing.T) {
	c, srv := newChecker(t)
	srv.ServFail("sel._domainkey.example.org")
	srv.Timeout("sel._domainkey.example.net")

	msg := testMessage("alice@example.com")
	simple := func(o *dkim.SignOptions) {
		o.HeaderCanonicalization, o.BodyCanonicalization = dkim.CanonicalizationSimple, dkim.CanonicalizationSimple
	}
	expires := func(at time.Time) func(*dkim.SignOptions) {
		return func(o *dkim.SignOptions) { o.Expiration = at }
	}
	withI := func(o *dkim.SignOptions) { o.Identifier = "alice@mail.example.com" }

	for _, tc := range []struct {
		section, name string
		msg           string
		want          []Result
		wantDomain    string
	}{
		{"RFC 6376 §6.1", "unsigned", msg, nil, ""},
		{"RFC 8616 §4", "d= in U-labels: key looked up in A-labels", sign(t, msg, "bücher.example", "ed"), []Result{Pass}, "xn--bcher-kva.example"},
		{"RFC 8616 §4", "d= in U-labels, upper case: key looked up in A-labels", sign(t, msg, "BÜCHER.example", "sel"), []Result{Pass}, "xn--bcher-kva.example"},
		{"RFC 8616 §4", "d= that is no IDNA name: permerror", sign(t, msg, "xn--zz.example", "ed"), []Result{PermError}, "xn--zz.example"},
		{"RFC 6376 §3.3.1", "rsa-sha256 relaxed/relaxed", sign(t, msg, "example.com", "sel"), []Result{Pass}, "example.com"},
		{"RFC 6376 §3.3.1", "rsa-sha256 simple/simple", sign(t, msg, "example.com", "sel", simple), []Result{Pass}, "example.com"},
		{"RFC 8463 §3", "ed25519-sha256", sign(t, msg, "example.com", "ed"), []Result{Pass}, "example.com"},
		{"RFC 6376 §3.5", "i= in a subdomain of d=", sign(t, msg, "example.com", "sel", withI), []Result{Pass}, "example.com"},
		{"RFC 6376 §3.7", "body changed", strings.Replace(sign(t, msg, "example.com", "sel"), "noon", "one", 1), []Result{Fail}, "example.com"},
		{"RFC 6376 §3.7", "signed header changed", strings.Replace(sign(t, msg, "example.com", "sel"), "Subject: Lunch", "Subject: Dinner", 1), []Result{Fail}, "example.com"},
		{"RFC 6376 §6.1.2", "no key: permerror", sign(t, msg, "example.com", "nokey"), []Result{PermError}, "example.com"},
		{"RFC 6376 §3.6.1", "revoked key: permerror", sign(t, msg, "example.com", "revoked"), []Result{PermError}, "example.com"},
		{"RFC 6376 §6.1.2", "key SERVFAIL: temperror", sign(t, msg, "example.org", "sel"), []Result{TempError}, "example.org"},
		{"RFC 6376 §6.1.2", "key lookup timeout: temperror", sign(t, msg, "example.net", "sel"), []Result{TempError}, "example.net"},
		{"RFC 6376 §3.5", "x= ahead of Now: pass", sign(t, msg, "example.com", "sel", expires(testNow.Add(time.Hour))), []Result{Pass}, "example.com"},
		{"RFC 6376 §3.5", "x= behind Now: permerror", sign(t, msg, "example.com", "sel", expires(testNow.Add(-time.Hour))), []Result{PermError}, "example.com"},
		{"RFC 6376 §3.5", "x= behind the machine's clock: permerror", sign(t, msg, "example.com", "sel", expires(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))), []Result{PermError}, "example.com"},
		{"RFC 8301 §3.1", "rsa-sha1 never passes", strings.Replace(sign(t, msg, "example.com", "sel"), "a=rsa-sha256", "a=rsa-sha1", 1), []Result{PermError}, "example.com"},
		{"RFC 6376 §5.4", "two signatures, the inner one broken", sign(t, strings.Replace(sign(t, msg, "example.com", "sel"), "noon", "one", 1), "mail.example.com", "ed"), []Result{Pass, Fail}, "mail.example.com"},
	} {
		t.Run(tc.section+"/"+tc.name, func(t *testing.T) {
			got, err := c.DKIM(t.Context(), strings.NewReader(tc.msg))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("DKIM gave %d results %+v, want %v", len(got), got, tc.want)
			}
			for i, r := range got {
				if r.Result != tc.want[i] {
					t.Errorf("signature %d: %s (%v), want %s", i, r.Result, r.Err, tc.want[i])
				}
				if (r.Result == Pass) != (r.Err == nil) {
					t.Errorf("signature %d: result %s with Err %v", i, r.Result, r.Err)
				}
			}
			if len(got) > 0 && got[0].Domain != tc.wantDomain {
				t.Errorf("first signature's domain %q, want %q", got[0].Domain, tc.wantDomain)
			}
		})
	}
}

// TestDKIMSignatureLimit checks that only MaxSignatures signatures are
// checked, however many the message carries (RFC 6376 §6.1).
func TestDKIMSignatureLimit(t *testing.T) {
	c, _ := newChecker(t)
	c.MaxSignatures = 3
	msg := testMessage("alice@example.com")
	for range 7 {
		msg = sign(t, msg, "example.com", "ed")
	}
	got, err := c.DKIM(t.Context(), strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("checked %d signatures, want 3", len(got))
	}
	for i, r := range got {
		if r.Result != Pass {
			t.Errorf("signature %d: %s (%v)", i, r.Result, r.Err)
		}
	}
}

// TestDKIMReadError checks that a failing reader is an error, not a
// result.
func TestDKIMReadError(t *testing.T) {
	c, _ := newChecker(t)
	boom := errors.New("connection lost")
	for _, r := range []io.Reader{
		iotest.ErrReader(boom),
		io.MultiReader(strings.NewReader(sign(t, testMessage("alice@example.com"), "example.com", "ed")[:300]), iotest.ErrReader(boom)),
	} {
		if _, err := c.DKIM(t.Context(), r); !errors.Is(err, boom) {
			t.Errorf("DKIM with a failing reader: %v, want %v", err, boom)
		}
	}
}

// TestDKIMMalformed checks that a header dkim cannot read is permerror.
func TestDKIMMalformed(t *testing.T) {
	c, _ := newChecker(t)
	got, err := c.DKIM(t.Context(), strings.NewReader("From: a@example.com\r\nno blank line and no end"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Result != PermError {
		t.Errorf("DKIM of a truncated header = %+v, want one permerror", got)
	}
}
