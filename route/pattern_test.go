package route

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/ownmx/ownmx/queue"
)

// nop is an action that does nothing; tests compare the pattern a
// recipient matches, not what its action does.
var nop Action = queue.RunnerFunc(func(ctx context.Context, m *queue.Message, a *queue.Attempt) error { return nil })

// kinds are the eight kinds of pattern, in the order of the precedence
// table, spelled for the recipient me+shop@example.com.
var kinds = []string{
	"me+shop@example.com", // 1 the address with its tag
	"me+*@example.com",    // 2 the base with any tag, at the domain
	"me@example.com",      // 3 the base address
	"me+shop@",            // 4 the local part with its tag, at any domain
	"me+*@",               // 5 the base with any tag, at any domain
	"me@",                 // 6 the base, at any domain
	"*@example.com",       // 7 the domain's catch-all
	"*",                   // 8 everything
}

// prefixKinds are kinds with the prefix patterns among them, in the order
// of the precedence table, for the recipient me+shop@example.com.
var prefixKinds = []string{
	"me+shop@example.com", // 1
	"me+*@example.com",    // 2
	"me@example.com",      // 3
	"me*@example.com",     // 4 a prefix, the longer one first
	"m*@example.com",      // 4
	"me+shop@",            // 5
	"me+*@",               // 6
	"me@",                 // 7
	"me*@",                // 8
	"m*@",                 // 8
	"*@example.com",       // 9
	"*",                   // 10
}

// TestPrecedencePairs registers every pair of pattern kinds, in both
// orders, and checks that the more specific one wins for a recipient both
// match, whichever was registered first.
func TestPrecedencePairs(t *testing.T) {
	for i, hi := range kinds {
		for _, lo := range kinds[i+1:] {
			for _, order := range [][2]string{{hi, lo}, {lo, hi}} {
				mux := NewMux()
				mux.Handle(order[0], nop)
				mux.Handle(order[1], nop)
				got, _, ok := mux.Match("me+shop@example.com")
				if !ok || got != hi {
					t.Errorf("%q and %q registered: me+shop@example.com matched %q (ok %v), want %q", order[0], order[1], got, ok, hi)
				}
			}
		}
	}
}

// TestPrecedencePairsWithPrefixes is TestPrecedencePairs over the kinds
// with prefix patterns among them, longer prefixes before shorter ones.
func TestPrecedencePairsWithPrefixes(t *testing.T) {
	for i, hi := range prefixKinds {
		for _, lo := range prefixKinds[i+1:] {
			for _, order := range [][2]string{{hi, lo}, {lo, hi}} {
				mux := NewMux()
				mux.Handle(order[0], nop)
				mux.Handle(order[1], nop)
				got, _, ok := mux.Match("me+shop@example.com")
				if !ok || got != hi {
					t.Errorf("%q and %q registered: me+shop@example.com matched %q (ok %v), want %q", order[0], order[1], got, ok, hi)
				}
			}
		}
	}
}

// TestPrefixPatterns checks what a prefix pattern matches, with SRS
// addresses as the forward package makes them.
func TestPrefixPatterns(t *testing.T) {
	mux := NewMux()
	mux.Handle("srs0=*@fwd.example", nop)
	mux.Handle("srs1=*@", nop)
	mux.Handle("*@fwd.example", nop)
	for _, tc := range []struct{ rcpt, want string }{
		{"SRS0=HHHH=TT=orig.example=alice@fwd.example", "srs0=*@fwd.example"},
		{"srs0=hhhh=tt=orig.example=alice+tag@FWD.example", "srs0=*@fwd.example"},
		{"SRS0=@fwd.example", "*@fwd.example"},    // only the prefix: a prefix matches longer local parts
		{"SRS0@fwd.example", "*@fwd.example"},     // not the prefix
		{"SRS0=x@other.example", ""},              // the prefix names fwd.example
		{"SRS1=x@other.example", "srs1=*@"},       // any domain
		{"SRS1=x@fwd.example", "srs1=*@"},         // a prefix at any domain beats the catch-all, as "me@" does
		{`"SRS0=x"@fwd.example`, "*@fwd.example"}, // quoted: only the catch-alls
		{"srs0=x", ""}, // no domain: only patterns that name none
		{"SRS1=x", "srs1=*@"},
	} {
		got, _, _ := mux.Match(tc.rcpt)
		if got != tc.want {
			t.Errorf("Match(%q) = %q, want %q", tc.rcpt, got, tc.want)
		}
	}
}

// TestMatch runs recipients against Muxes holding one kind of pattern, or
// all of them, and names the pattern that wins.
func TestMatch(t *testing.T) {
	all := []string{
		"me+shop@example.com", "me+*@example.com", "me@example.com",
		"me+shop@", "me+*@", "me@",
		"*@example.com", "*",
		"orders+*@example.com", "orders+*@", "you@example.org", "*@xn--bcher-kva.example",
		"jörg@bücher.example", "a+b+c@example.com", "postmaster@",
	}
	for _, tc := range []struct {
		name     string
		patterns []string
		rcpt     string
		want     string // "" for no match
	}{
		// One kind at a time: what each matches and what it does not.
		{"exact", []string{"me@example.com"}, "me@example.com", "me@example.com"},
		{"exact, tag falls back", []string{"me@example.com"}, "me+shop@example.com", "me@example.com"},
		{"exact, other domain", []string{"me@example.com"}, "me@example.org", ""},
		{"exact, other local", []string{"me@example.com"}, "you@example.com", ""},
		{"exact, longer local", []string{"me@example.com"}, "meme@example.com", ""},
		{"exact, subdomain", []string{"me@example.com"}, "me@sub.example.com", ""},
		{"exact with tag", []string{"me+shop@example.com"}, "me+shop@example.com", "me+shop@example.com"},
		{"exact with tag, other tag", []string{"me+shop@example.com"}, "me+shops@example.com", ""},
		{"exact with tag, no tag", []string{"me+shop@example.com"}, "me@example.com", ""},
		{"local", []string{"me@"}, "me@anything.example", "me@"},
		{"local, tag falls back", []string{"me@"}, "me+x@anything.example", "me@"},
		{"local, other", []string{"me@"}, "you@example.com", ""},
		{"local, no domain", []string{"postmaster@"}, "Postmaster", "postmaster@"},
		{"local with tag", []string{"me+shop@"}, "me+shop@example.org", "me+shop@"},
		{"tag", []string{"orders+*@example.com"}, "orders+42@example.com", "orders+*@example.com"},
		{"tag, empty tag", []string{"orders+*@example.com"}, "orders+@example.com", "orders+*@example.com"},
		{"tag, no tag", []string{"orders+*@example.com"}, "orders@example.com", ""},
		{"tag, other domain", []string{"orders+*@example.com"}, "orders+42@example.org", ""},
		{"tag, other base", []string{"orders+*@example.com"}, "order+42@example.com", ""},
		{"tag, base with a suffix", []string{"orders+*@example.com"}, "ordersx+42@example.com", ""},
		{"tag at any domain", []string{"orders+*@"}, "orders+42@example.org", "orders+*@"},
		{"tag at any domain, no tag", []string{"orders+*@"}, "orders@example.org", ""},
		{"catch-all", []string{"*@example.com"}, "anyone+x@example.com", "*@example.com"},
		{"catch-all, other domain", []string{"*@example.com"}, "anyone@example.org", ""},
		{"catch-all, subdomain", []string{"*@example.com"}, "anyone@sub.example.com", ""},
		{"catch-all, parent", []string{"*@sub.example.com"}, "anyone@example.com", ""},
		{"catch-all, no domain", []string{"*@example.com"}, "postmaster", ""},
		{"everything", []string{"*"}, "anyone@anywhere.example", "*"},
		{"everything, no domain", []string{"*"}, "postmaster", "*"},
		{"empty mux", nil, "me@example.com", ""},

		// Case: local parts without regard to ASCII case, domains in
		// lower case, patterns in either.
		{"case of recipient", []string{"me@example.com"}, "ME@EXAMPLE.COM", "me@example.com"},
		{"case of pattern", []string{"Me+Shop@Example.COM"}, "mE+sHOP@eXAMPLE.com", "me+shop@example.com"},
		{"case of tag pattern", []string{"ORDERS+*@"}, "orders+X@example.com", "orders+*@"},
		{"case beyond ASCII kept", []string{"jörg@"}, "JÖRG@example.com", ""},
		{"case beyond ASCII, ASCII folded", []string{"jörg@"}, "JöRG@example.com", "jörg@"},
		{"KELVIN SIGN is not k in a local part", []string{"kx@"}, "\u212ax@example.com", ""},

		// IDN: a U-label pattern matches the A-label recipient and the
		// other way round, and UTS #46 folds.
		{"U-label pattern, A-label recipient", []string{"*@bücher.example"}, "a@xn--bcher-kva.example", "*@xn--bcher-kva.example"},
		{"A-label pattern, U-label recipient", []string{"*@xn--bcher-kva.example"}, "a@Bücher.example", "*@xn--bcher-kva.example"},
		{"A-label pattern in upper case", []string{"me@XN--BCHER-KVA.example"}, "me@bücher.EXAMPLE", "me@xn--bcher-kva.example"},
		{"KELVIN SIGN in a domain", []string{"*@kx.example"}, "a@\u212ax.example", "*@kx.example"},
		{"full-width letters in a domain", []string{"*@example.com"}, "a@ｅｘａｍｐｌｅ.com", "*@example.com"},
		{"final dot of a recipient", []string{"me@example.com"}, "me@example.com.", "me@example.com"},
		{"final dot of a pattern", []string{"me@example.com."}, "me@example.com", "me@example.com"},
		{"recipient domain that does not convert", []string{"*"}, "me@xn--zz.example", ""},

		// Several '+': the tag starts at the first.
		{"several +, exact", []string{"a+b+c@example.com"}, "a+b+c@example.com", "a+b+c@example.com"},
		{"several +, tag", []string{"a+*@example.com"}, "a+b+c@example.com", "a+*@example.com"},
		{"several +, base", []string{"a@example.com"}, "a+b+c@example.com", "a@example.com"},
		{"several +, not at the second", []string{"a+b@example.com"}, "a+b+c@example.com", ""},
		{"leading + is no tag", []string{"+me@example.com", "me@example.com"}, "+me@example.com", "+me@example.com"},
		{"leading + is no tag, no base", []string{"me@example.com"}, "+me@example.com", ""},
		{"++", []string{"a+*@"}, "a++@example.com", "a+*@"},

		// Quoted local parts and '*' in recipients: only catch-alls.
		{"quoted", []string{"me@example.com", "*@example.com"}, `"me"@example.com`, "*@example.com"},
		{"star recipient", []string{"a@", "*@example.com"}, "a*@example.com", "*@example.com"},
		{"star tag recipient", []string{"a+*@example.com"}, "a+*@example.com", "a+*@example.com"},

		// All kinds at once: each recipient finds the most specific.
		{"all: tag exact", all, "me+shop@example.com", "me+shop@example.com"},
		{"all: other tag", all, "me+other@example.com", "me+*@example.com"},
		{"all: base", all, "me@example.com", "me@example.com"},
		{"all: tag exact at other domain", all, "me+shop@example.org", "me+shop@"},
		{"all: other tag at other domain", all, "me+x@example.org", "me+*@"},
		{"all: base at other domain", all, "me@example.org", "me@"},
		{"all: catch-all", all, "you@example.com", "*@example.com"},
		{"all: exact beats local", all, "you@example.org", "you@example.org"},
		{"all: everything", all, "you@example.net", "*"},
		{"all: tag without base pattern", all, "orders+9@example.com", "orders+*@example.com"},
		{"all: tag at other domain", all, "orders+9@example.net", "orders+*@"},
		{"all: untagged orders", all, "orders@example.com", "*@example.com"},
		{"all: IDN exact", all, "JÖRG@XN--BCHER-KVA.EXAMPLE", "*@xn--bcher-kva.example"},
		{"all: IDN exact, ASCII case", all, "JöRG@Bücher.example", "jörg@xn--bcher-kva.example"},
		{"all: several +", all, "a+b+c@example.com", "a+b+c@example.com"},
		{"all: several +, other", all, "a+b+d@example.com", "*@example.com"},
		{"all: postmaster", all, "postmaster", "postmaster@"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mux := NewMux()
			for _, p := range tc.patterns {
				mux.Handle(p, nop)
			}
			got, actions, ok := mux.Match(tc.rcpt)
			if got != tc.want || ok != (tc.want != "") || ok != (len(actions) == 1) {
				t.Errorf("Match(%q) = %q, %d actions, %v; want %q", tc.rcpt, got, len(actions), ok, tc.want)
			}
		})
	}
}

// TestBadPatterns checks that Register refuses each kind of bad pattern
// with an error that names it and says why, and that Handle panics.
func TestBadPatterns(t *testing.T) {
	for _, tc := range []struct{ pattern, why string }{
		{"", "empty"},
		{"me", `no "@"`},
		{"example.com", `no "@"`},
		{"a@b@example.com", `more than one "@"`},
		{`"a@b"@example.com`, `more than one "@"`},
		{"@example.com", "empty local part"},
		{"@", "empty local part"},
		{"*@", `"*@" names no domain`},
		{"**", `no "@"`},
		{"*me@example.com", `"*" may only be`},
		{"m*e@example.com", `"*" may only be`},
		{"**@example.com", `"*" may only end a prefix`},
		{"m*e*@example.com", `"*" may only end a prefix`},
		{"me..x*@", `holds ".."`},
		{"m e*@", `holds ' '`},
		{"me+*x@example.com", `"*" may only be`},
		{"me+x*@example.com", `a prefix holds a "+"`},
		{"*+*@example.com", `"*" may only be`},
		{"me@*.example.com", "invalid domain"},
		{"me@*", "invalid domain"},
		{"*@*", "invalid domain"},
		{"+*@example.com", `"+*" needs a local part`},
		{"a+b+*@example.com", `holds a "+"`},
		{"a++*@", `holds a "+"`},
		{".me@example.com", `starts or ends with "."`},
		{"me.@example.com", `starts or ends with "."`},
		{"m..e@example.com", `holds ".."`},
		{"me.+*@example.com", `starts or ends with "."`},
		{"m e@example.com", "holds ' '"},
		{`"me"@example.com`, `holds '"'`},
		{"me(x)@example.com", "holds '('"},
		{"me,you@example.com", "holds ','"},
		{strings.Repeat("a", 65) + "@example.com", "longer than 64 octets"},
		{"me@xn--zz.example", "invalid domain"},
		{"me@example..com", "empty label"},
		{"me@.example.com", "empty label"},
		{"me@example.com..", "empty label"},
		{"me@exa_mple.com", `holds '_'`},
		{"me@exa mple.com", `holds ' '`},
		{"me@-example.com", "starts or ends with '-'"},
		{"me@example-.com", "starts or ends with '-'"},
		{"me@[192.0.2.1]", "address literals"},
		{"me@" + strings.Repeat("a", 64) + ".com", "longer than 63 octets"},
		{"me@" + strings.Repeat("abcdefghi.", 26) + "com", "longer than 253 octets"},
		{"me@\xffexample.com", "not UTF-8"},
		{"\xff@example.com", "not UTF-8"},
	} {
		t.Run(tc.pattern, func(t *testing.T) {
			err := NewMux().Register(tc.pattern, nop)
			if err == nil {
				t.Fatalf("Register(%q) succeeded", tc.pattern)
			}
			if !errors.Is(err, ErrBadPattern) || !strings.Contains(err.Error(), tc.why) || !strings.Contains(err.Error(), strconv.Quote(cut(tc.pattern))) {
				t.Errorf("Register(%q): %v; want ErrBadPattern, the pattern and %q", tc.pattern, err, tc.why)
			}
			defer func() {
				if recover() == nil {
					t.Errorf("Handle(%q) did not panic", tc.pattern)
				}
			}()
			NewMux().Handle(tc.pattern, nop)
		})
	}
}

// TestGoodPatterns checks patterns at the edges of what is allowed.
func TestGoodPatterns(t *testing.T) {
	for _, tc := range []struct{ pattern, canonical string }{
		{"*", "*"},
		{"me@", "me@"},
		{"Me.You@", "me.you@"},
		{"me+@example.com", "me+@example.com"},
		{"+me@example.com", "+me@example.com"},
		{"a+b+c@", "a+b+c@"},
		{"o'brien@example.com", "o'brien@example.com"},
		{"!#$%&'+-/=?^_`{|}~@example.com", "!#$%&'+-/=?^_`{|}~@example.com"},
		{"jörg@Bücher.Example", "jörg@xn--bcher-kva.example"},
		{"*@ｅｘａｍｐｌｅ.com", "*@example.com"},
		{strings.Repeat("a", 64) + "@example.com", strings.Repeat("a", 64) + "@example.com"},
		{"me@" + strings.Repeat("a", 63) + ".com", "me@" + strings.Repeat("a", 63) + ".com"},
		{"me@1.2", "me@1.2"},
		{"me@a-b.example", "me@a-b.example"},
		{"x+*@Example.COM.", "x+*@example.com"},
		{"SRS0=*@Example.COM", "srs0=*@example.com"},
		{"me*@", "me*@"},
		{"a.b*@", "a.b*@"},
		{"bounces.*@example.com", "bounces.*@example.com"},
	} {
		got, err := canonical(tc.pattern)
		if err != nil || got != tc.canonical {
			t.Errorf("canonical(%q) = %q, %v; want %q", tc.pattern, got, err, tc.canonical)
		}
		if err := NewMux().Register(tc.pattern, nop); err != nil {
			t.Errorf("Register(%q): %v", tc.pattern, err)
		}
	}
}

// TestDuplicatePatterns checks that a pattern is refused when the Mux has
// it already, in any spelling, and that Handle panics on it.
func TestDuplicatePatterns(t *testing.T) {
	for _, pair := range [][2]string{
		{"me@example.com", "me@example.com"},
		{"me@example.com", "ME@Example.Com"},
		{"me@example.com", "me@example.com."},
		{"*@bücher.example", "*@XN--BCHER-KVA.example"},
		{"orders+*@", "Orders+*@"},
		{"*", "*"},
	} {
		mux := NewMux()
		mux.Handle(pair[0], nop)
		err := mux.Register(pair[1], nop)
		if err == nil || !strings.Contains(err.Error(), "registered already") || !strings.Contains(err.Error(), pair[1]) {
			t.Errorf("%q after %q: %v, want an error naming it as registered already", pair[1], pair[0], err)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Handle(%q) after %q did not panic", pair[1], pair[0])
				}
			}()
			mux.Handle(pair[1], nop)
		}()
	}
}

// TestRegisterActions checks that a pattern needs actions, none of them nil.
func TestRegisterActions(t *testing.T) {
	mux := NewMux()
	if err := mux.Register("me@"); err == nil || !strings.Contains(err.Error(), "no action") {
		t.Errorf("no actions: %v", err)
	}
	if err := mux.Register("me@", nop, nil); err == nil || !strings.Contains(err.Error(), "action 2 is nil") {
		t.Errorf("a nil action: %v", err)
	}
	if _, _, ok := mux.Match("me@example.com"); ok {
		t.Errorf("a refused pattern matches")
	}
}
