package srs

import (
	"errors"
	"strings"
	"testing"
)

// Known addresses, computed from the published algorithm with Python's hmac
// and base64 modules rather than with this package: HMAC-SHA1 keyed with
// testSecret over the lower-cased parts, the first four base64 characters;
// day 20513 (2026-03-01) modulo 1024 is 33, "BB" in base32.
var vectors = []struct{ from, srs string }{
	{"alice@example.com", "SRS0=tKkJ=BB=example.com=alice@fwd.example"},
	{"Alice.Smith+tag@Example.COM", "SRS0=LGwy=BB=Example.COM=Alice.Smith+tag@fwd.example"},
	{"bob@bücher.example", "SRS0=ysCS=BB=xn--bcher-kva.example=bob@fwd.example"},
	{"SRS0=HHHH=TT=orig.example=carol@fwd1.example", "SRS1=ch4G=fwd1.example==HHHH=TT=orig.example=carol@fwd.example"},
}

func TestVectors(t *testing.T) {
	r := atTestNow()
	for _, v := range vectors {
		got, err := r.Forward(v.from)
		if err != nil || got != v.srs {
			t.Errorf("Forward(%q) = %q, %v; want %q", v.from, got, err, v.srs)
		}
	}
}

// Every kind of sender comes back from Reverse as it went into Forward, in
// its plainest form.
func TestRoundTrip(t *testing.T) {
	r := atTestNow()
	for _, tt := range []struct {
		name, from, want string // want: the rewritten address, or a prefix of it ending in "="
		back             string // what Reverse gives; "" means from
	}{
		{"plain", "alice@example.com", "SRS0=tKkJ=BB=example.com=alice@fwd.example", ""},
		{"case kept", "Alice.Smith+tag@Example.COM", "SRS0=LGwy=BB=Example.COM=Alice.Smith+tag@fwd.example", ""},
		{"atext", "a!#$%&'*+-/=?^_`{|}~z@example.com", "SRS0=", ""},
		{"equals signs in the local part", "a=b==c=@example.com", "SRS0=", ""},
		{"local part that looks like SRS at the end", "x=SRS0=a=b=c@example.com", "SRS0=", ""},
		{"quoted, with a space", `"john doe"@example.com`, `"SRS0=`, ""},
		{"quoted, with quote and backslash", `"a\"b\\c"@example.com`, `"SRS0=`, ""},
		{"quoted, with @", `"a@b"@example.com`, `"SRS0=`, ""},
		{"quoted, double dot", `"john..doe"@example.com`, `"SRS0=`, ""},
		{"quoted needlessly", `"john"@example.com`, "SRS0=", "john@example.com"},
		{"needless quoted pair", `"jo\hn"@example.com`, "SRS0=", "john@example.com"},
		{"UTF-8 local part (RFC 6531)", "用户@example.com", "SRS0=", ""},
		{"UTF-8 quoted", `"δοκιμή χρήστη"@example.com`, `"SRS0=`, ""},
		{"UTF-8 in both", "ñandú@bücher.example", "SRS0=", "ñandú@xn--bcher-kva.example"},
		{"U-label domain in A-labels", "bob@Bücher.example", "SRS0=ysCS=BB=xn--bcher-kva.example=bob@fwd.example", "bob@xn--bcher-kva.example"},
		{"address literal", "root@[192.0.2.1]", `"SRS0=`, ""},
		{"IPv6 literal", "root@[IPv6:2001:db8::1]", `"SRS0=`, ""},
		{"SRS0 of another forwarder", "SRS0=HHHH=TT=orig.example=carol@fwd1.example", "SRS1=ch4G=fwd1.example==HHHH=TT=orig.example=carol@fwd.example", ""},
		{"SRS0+ of another forwarder", "SRS0+HHHH=TT=orig.example=carol@fwd1.example", "SRS1=", ""},
		{"srs0- in lower case, back in upper case as libsrs2 does", "srs0-HHHH=TT=orig.example=carol@fwd1.example", "SRS1=", "SRS0-HHHH=TT=orig.example=carol@fwd1.example"},
		{"quoted SRS0 of another forwarder", `"SRS0=HHHH=TT=orig.example=john doe"@fwd1.example`, `"SRS1=`, ""},
		{"not SRS: no separator", "SRS0xyz@example.com", "SRS0=", ""},
		{"not SRS: SRS2", "SRS2=a=b=c@example.com", "SRS0=", ""},
		{"malformed SRS1 is wrapped as SRS0", "SRS1=abcd@example.com", "SRS0=", ""},
		{"SRS1 with no hash is wrapped as SRS0", "SRS1==fwd1.example=x@example.com", "SRS0=", ""},
		{"SRS1 naming no host is wrapped as SRS0", `"SRS1=abcd=fwd 1.example==x"@example.com`, `"SRS0=`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.Forward(tt.from)
			if err != nil {
				t.Fatalf("Forward(%q): %v", tt.from, err)
			}
			if strings.HasSuffix(tt.want, "=") && !strings.HasPrefix(got, tt.want) ||
				!strings.HasSuffix(tt.want, "=") && got != tt.want {
				t.Errorf("Forward(%q) = %q, want %q", tt.from, got, tt.want)
			}
			if !strings.HasSuffix(got, "@fwd.example") || !IsSRS(got) {
				t.Errorf("Forward(%q) = %q, not an SRS address at fwd.example", tt.from, got)
			}
			want := tt.back
			if want == "" {
				want = tt.from
			}
			back, err := r.Reverse(got)
			if err != nil || back != want {
				t.Errorf("Reverse(%q) = %q, %v; want %q", got, back, err, want)
			}
		})
	}
}

// A chain: fwd1 rewrites the sender to SRS0, fwd2 forwards that as SRS1,
// fwd3 forwards the SRS1 again with its own hash. A bounce to fwd3 goes
// straight back to fwd1, as libsrs2 has it, and fwd1 finds the sender.
func TestChain(t *testing.T) {
	now := testNow
	fwd := func(domain, secret string) *Rewriter {
		r := newRewriter(&now)
		r.Domain, r.Secrets = domain, [][]byte{[]byte(secret)}
		return r
	}
	fwd1, fwd2, fwd3 := fwd("fwd1.example", "the first forwarder's secret"),
		fwd("fwd2.example", "the second forwarder's secret"), fwd("fwd3.example", "the third forwarder's secret")

	a1, err := fwd1.Forward("alice@example.com")
	if err != nil || !strings.HasPrefix(a1, "SRS0=") || !strings.HasSuffix(a1, "=BB=example.com=alice@fwd1.example") {
		t.Fatalf("fwd1: %q, %v", a1, err)
	}
	a2, err := fwd2.Forward(a1)
	inner := strings.TrimSuffix(strings.TrimPrefix(a1, "SRS0"), "@fwd1.example") // "=HHHH=BB=example.com=alice"
	if err != nil || !strings.HasPrefix(a2, "SRS1=") || !strings.HasSuffix(a2, "=fwd1.example="+inner+"@fwd2.example") {
		t.Fatalf("fwd2: %q, %v", a2, err)
	}
	a3, err := fwd3.Forward(a2)
	if err != nil || !strings.HasPrefix(a3, "SRS1=") || !strings.HasSuffix(a3, "=fwd1.example="+inner+"@fwd3.example") {
		t.Fatalf("fwd3: %q, %v", a3, err)
	}
	if a3[5:9] == a2[5:9] && fwd3.hash(0, "fwd1.example", inner) != a3[5:9] {
		t.Errorf("fwd3 did not sign the SRS1 address with its own secret: %q after %q", a3, a2)
	}
	// Each forwarder reverses only its own address.
	for _, tt := range []struct {
		r    *Rewriter
		addr string
	}{{fwd3, a3}, {fwd2, a2}} {
		got, err := tt.r.Reverse(tt.addr)
		if err != nil || got != a1 {
			t.Errorf("%s: Reverse(%q) = %q, %v; want the SRS0 address at fwd1 %q", tt.r.Domain, tt.addr, got, err, a1)
		}
	}
	if got, err := fwd1.Reverse(a1); err != nil || got != "alice@example.com" {
		t.Errorf("fwd1: Reverse(%q) = %q, %v", a1, got, err)
	}
	// fwd3's address is not fwd2's to reverse, nor is it valid with
	// fwd2's hash at fwd3.
	if _, err := fwd2.Reverse(a3); !errors.Is(err, ErrNotSRS) {
		t.Errorf("fwd2 reverses fwd3's address: %v", err)
	}
	forged := strings.Replace(a3, a3[5:9], a2[5:9], 1)
	if _, err := fwd3.Reverse(forged); a3[5:9] != a2[5:9] && !errors.Is(err, ErrForged) {
		t.Errorf("fwd3 accepts fwd2's hash: %q: %v", forged, err)
	}
}

func TestNullSender(t *testing.T) {
	r := atTestNow()
	if got, err := r.Forward(""); got != "" || err != nil {
		t.Errorf(`Forward("") = %q, %v; want "", nil`, got, err)
	}
	if _, err := r.Reverse(""); !errors.Is(err, ErrNotSRS) {
		t.Errorf(`Reverse("") = %v, want ErrNotSRS`, err)
	}
}

// Mail from the forwarding domain itself keeps its sender: SPF already
// passes for it, and an SRS address of our own is not wrapped again.
func TestOwnDomain(t *testing.T) {
	r := atTestNow()
	r.Domain = "Fwd.Example"
	own, err := r.Forward("alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, from := range []string{"me@fwd.example", "me@FWD.EXAMPLE", `"me too"@fwd.example`, own, strings.ToUpper(own)} {
		if got, err := r.Forward(from); got != from || err != nil {
			t.Errorf("Forward(%q) = %q, %v; want it unchanged", from, got, err)
		}
	}
	// Domain in U-labels: SRS addresses are at its A-labels.
	r.Domain = "bücher.example"
	got, err := r.Forward("alice@example.com")
	if err != nil || !strings.HasSuffix(got, "@xn--bcher-kva.example") {
		t.Errorf("Forward with Domain in U-labels = %q, %v", got, err)
	}
	if back, err := r.Reverse(got); err != nil || back != "alice@example.com" {
		t.Errorf("Reverse(%q) = %q, %v", got, back, err)
	}
	if got, err := r.Forward("me@xn--bcher-kva.example"); got != "me@xn--bcher-kva.example" || err != nil {
		t.Errorf("an A-label address at a U-label Domain is rewritten: %q, %v", got, err)
	}
}

// RFC 5321 §4.5.3.1.1: a local part has at most 64 octets.
func TestTooLong(t *testing.T) {
	r := atTestNow()
	// SRS0=HHHH=BB=example.com= is 25 octets: a local part of 39 fits.
	for n := 30; n <= 45; n++ {
		from := strings.Repeat("a", n) + "@example.com"
		got, err := r.Forward(from)
		if n <= 39 {
			if err != nil || len(got) != 25+n+len("@fwd.example") {
				t.Errorf("%d octets: Forward = %q, %v", n, got, err)
			}
			continue
		}
		if !errors.Is(err, ErrTooLong) || got != "" || !strings.Contains(err.Error(), from) {
			t.Errorf("%d octets: Forward = %q, %v; want ErrTooLong naming the sender", n, got, err)
		}
	}
	// Quotes count: "SRS0=HHHH=BB=example.com=a b..." is 27 octets more.
	from := `"` + strings.Repeat("a", 36) + ` b"@example.com`
	if _, err := r.Forward(from); !errors.Is(err, ErrTooLong) {
		t.Errorf("Forward(%q) = %v, want ErrTooLong", from, err)
	}
	// SRS1 lengths count too.
	from = "SRS0=HHHH=TT=orig.example=" + strings.Repeat("c", 30) + "@fwd1.example"
	if _, err := r.Forward(from); !errors.Is(err, ErrTooLong) {
		t.Errorf("Forward(%q) = %v, want ErrTooLong", from, err)
	}
}

func TestForwardBadSender(t *testing.T) {
	r := atTestNow()
	for _, from := range []string{
		"alice", "alice@", "@example.com", `""@example.com`, "a b@example.com", ".alice@example.com",
		"alice.@example.com", "al..ice@example.com", `"alice@example.com`, `"alice"example.com`,
		`"a\` + "\x01" + `"@example.com`, "a\x00b@example.com", "\xffalice@example.com", "alice@exa=mple.com",
		"alice@exa mple.com", `alice@"example.com"`, "alice@b\u00fccher\u202e.example",
	} {
		got, err := r.Forward(from)
		if err == nil || got != "" || errors.Is(err, ErrTooLong) || !strings.Contains(err.Error(), "srs: ") {
			t.Errorf("Forward(%q) = %q, %v; want an error", from, got, err)
		}
	}
}

func TestSetup(t *testing.T) {
	for _, tt := range []struct {
		name string
		r    Rewriter
		want string
	}{
		{"no secrets", Rewriter{Domain: "fwd.example"}, "no Secrets"},
		{"short secret", Rewriter{Domain: "fwd.example", Secrets: [][]byte{testSecret, []byte("fifteen bytes..")}}, "Secrets[1] is 15 bytes"},
		{"no domain", Rewriter{Secrets: [][]byte{testSecret}}, "no Domain"},
		{"bad domain", Rewriter{Domain: "fwd=example", Secrets: [][]byte{testSecret}}, "Domain"},
		{"address literal", Rewriter{Domain: "[192.0.2.1]", Secrets: [][]byte{testSecret}}, "not a domain name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.r.Forward("alice@example.com"); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Forward: %v, want an error saying %q", err, tt.want)
			}
			if _, err := tt.r.Reverse("SRS0=tKkJ=BB=example.com=alice@fwd.example"); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Reverse: %v, want an error saying %q", err, tt.want)
			}
		})
	}
	// Exactly 16 bytes will do, and a nil clock is the machine's.
	r := Rewriter{Domain: "fwd.example", Secrets: [][]byte{[]byte("sixteen bytes...")}}
	a, err := r.Forward("alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if back, err := r.Reverse(a); err != nil || back != "alice@example.com" {
		t.Errorf("Reverse(%q) = %q, %v", a, back, err)
	}
}

// Reverse tells a recipient that is no SRS address at all (a local mailbox,
// another domain) from a forged one.
func TestReverseNotSRS(t *testing.T) {
	r := atTestNow()
	for _, rcpt := range []string{
		"postmaster@fwd.example", "SRS0xabc@fwd.example", "SRS=abc@fwd.example", "SRS2=a=b=c=d@fwd.example",
		"SRS0=tKkJ=BB=example.com=alice@other.example", "SRS0=tKkJ=BB=example.com=alice", "SRS0=tKkJ=BB=example.com=alice@",
		"SRS0=tKkJ=BB=example.com=alice@fwd.example.", "SRS0=tKkJ=BB=example.com=alice@sub.fwd.example",
		"a b@fwd.example", `"john doe"@fwd.example`,
	} {
		if got, err := r.Reverse(rcpt); !errors.Is(err, ErrNotSRS) || got != "" {
			t.Errorf("Reverse(%q) = %q, %v; want ErrNotSRS", rcpt, got, err)
		}
	}
}

func TestIsSRS(t *testing.T) {
	for addr, want := range map[string]bool{
		"SRS0=tKkJ=BB=example.com=alice@fwd.example": true,
		"srs0=x@fwd.example":                         true,
		"SRS1+x@fwd.example":                         true,
		"Srs1-x@fwd.example":                         true,
		`"SRS0=a=b=c=john doe"@fwd.example`:          true,
		"SRS0=x":                                     true,
		"SRS0x@fwd.example":                          false,
		"SRS0@fwd.example":                           false,
		"SRS2=x@fwd.example":                         false,
		"xSRS0=x@fwd.example":                        false,
		"alice@fwd.example":                          false,
		"":                                           false,
		`"john doe"@fwd.example`:                     false,
	} {
		if got := IsSRS(addr); got != want {
			t.Errorf("IsSRS(%q) = %v, want %v", addr, got, want)
		}
	}
}
