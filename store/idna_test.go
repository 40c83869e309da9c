package store

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ownmx/ownmx/smtpd"
)

// Domains are compared and stored in ASCII after IDNA (UTS #46, lookup
// profile), as smtpd's domain check compares them: every spelling of a
// name lands in one directory, and what IDNA refuses is refused.
func TestMailboxIDNA(t *testing.T) {
	long := strings.Repeat("a", 63)
	for _, tc := range []struct {
		group, addr string
		want        string // domain directory, or "" when refused
	}{
		// Case and width fold to the ASCII letter.
		{"fold", "postmaster@\u212Ax.example", "kx.example"}, // KELVIN SIGN
		{"fold", "me@\u212A\u212A.example", "kk.example"},
		{"fold", "me@ｅｘａｍｐｌｅ．ｃｏｍ", "example.com"}, // full-width letters and dot
		{"fold", "me@ＥＸＡＭＰＬＥ.com", "example.com"},
		{"fold", "me@x\u3002example", "x.example"}, // ideographic full stop
		{"fold", "me@EXAMPLE.COM", "example.com"},
		{"fold", "me@a\u00adb.example", "ab.example"}, // soft hyphen is dropped
		// U-labels become A-labels.
		{"a-label", "me@bücher.example", "xn--bcher-kva.example"},
		{"a-label", "me@BÜCHER.example", "xn--bcher-kva.example"},
		{"a-label", "me@bu\u0308cher.example", "xn--bcher-kva.example"}, // decomposed ü
		{"a-label", "me@xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"a-label", "me@XN--BCHER-KVA.example", "xn--bcher-kva.example"},
		{"a-label", "me@bücher.example.", "xn--bcher-kva.example"},
		{"a-label", "me@faß.de", "xn--fa-hia.de"}, // nontransitional: ß kept
		{"a-label", "me@שלום.example", "xn--9dbne9b.example"},
		{"a-label", "me@例え.テスト", "xn--r8jz45g.xn--zckzah"},
		// What IDNA refuses.
		{"refused", "me@xn--zz.example", ""},                         // bad Punycode
		{"refused", "me@xn--a.example", ""},                          // decodes to a control character
		{"refused", "me@a\u200db.example", ""},                       // ZERO WIDTH JOINER out of context
		{"refused", "me@\u05d0a.example", ""},                        // breaks the bidi rule
		{"refused", "me@ex_ample.com", ""},                           // STD3: no '_'
		{"refused", "me@\u00ad.example", ""},                         // maps to an empty label
		{"refused", "me@example.com\uff0e", ""},                      // the final dot is trimmed before IDNA only
		{"refused", "me@-x.example", ""},                             // hyphen first
		{"refused", "me@x-.example", ""},                             // hyphen last
		{"refused", "me@exa mple.com", ""},                           // space
		{"refused", "me@[127.0.0.1]", ""},                            // address literal
		{"refused", "me@example..com", ""},                           // empty label
		{"refused", "me@.example.com", ""},                           // empty label
		{"refused", "me@example.com..", ""},                          // empty label after the trim
		{"refused", "me@a/b.example", ""},                            // '/'
		{"refused", "me@" + long + "a.example", ""},                  // label of 64
		{"refused", "me@" + strings.Repeat(long+".", 4) + "com", ""}, // 259 long
		{"refused", "me@\x00.example", ""},
		{"refused", "me@\xff.example", ""},    // not UTF-8
		{"refused", "me@a\xc3.example", ""},   // cut UTF-8
		{"refused", "me@\ufffd.example", ""},  // REPLACEMENT CHARACTER
		{"refused", "me@\u0378.example", ""},  // unassigned
		{"refused", "me@\ue000.example", ""},  // private use
		{"refused", "me@\u0301a.example", ""}, // starts with a combining mark
		// An ASCII label with "--" in the third and fourth places is no
		// IDNA name but a host name: only lower-cased, as smtpd's domain
		// check compares it (smtpd.ToASCII), so that both agree.
		{"ascii", "me@Ab--C.example", "ab--c.example"},
		// Long but within bounds.
		{"bounds", "me@" + long + ".example", long + ".example"},
	} {
		t.Run(tc.group+"/"+tc.addr, func(t *testing.T) {
			root := t.TempDir()
			m := &Mailboxes{Root: root}
			got, err := m.Mailbox(tc.addr)
			if tc.want == "" {
				if !errors.Is(err, smtpd.ErrRelayDenied) {
					t.Fatalf("Mailbox(%q) = %q, %v; want it refused with ErrRelayDenied", tc.addr, got, err)
				}
				return
			}
			local, _, _ := smtpd.SplitAddress(tc.addr)
			if want := filepath.Join(root, tc.want, local); err != nil || got != want {
				t.Fatalf("Mailbox(%q) = %q, %v; want %q", tc.addr, got, err, want)
			}
		})
	}
}

// Domains may be given in any spelling; each accepts all the others.
func TestMailboxesDomainsIDNA(t *testing.T) {
	m := &Mailboxes{Root: t.TempDir(), Domains: []string{"Bücher.Example", "\u212Ax.example"}}
	for _, addr := range []string{"me@bücher.example", "me@xn--bcher-kva.example", "me@BU\u0308CHER.example.", "me@kx.example", "me@KX.EXAMPLE"} {
		if _, err := m.Mailbox(addr); err != nil {
			t.Errorf("Mailbox(%q): %v", addr, err)
		}
	}
	if _, err := m.Mailbox("me@bucher.example"); !errors.Is(err, smtpd.ErrRelayDenied) {
		t.Errorf("Mailbox of another domain: err = %v, want ErrRelayDenied", err)
	}
	bad := &Mailboxes{Root: t.TempDir(), Domains: []string{"xn--zz.example"}}
	if _, err := bad.Mailbox("me@example.com"); err == nil || errors.Is(err, smtpd.ErrRelayDenied) {
		t.Errorf("Domains with a name IDNA refuses: err = %v, want a configuration error", err)
	}
}
