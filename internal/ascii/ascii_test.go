package ascii

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// reference folds with strings.ToLower on ASCII letters only.
func reference(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < utf8.RuneSelf {
			c = strings.ToLower(string(c))[0]
		}
		b.WriteByte(c)
	}
	return b.String()
}

func FuzzLower(f *testing.F) {
	for _, s := range []string{"", "abc", "ABC", "MiXeD.Example", "\u212a", "K\u212ak", "\xff\xfeA", "SRS0=HHHH"} {
		f.Add(s, strings.ToUpper(s))
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if got, want := Lower(a), reference(a); got != want {
			t.Fatalf("Lower(%q) = %q, want %q", a, got, want)
		}
		if got, want := EqualFold(a, b), reference(a) == reference(b); got != want {
			t.Fatalf("EqualFold(%q, %q) = %v, want %v", a, b, got, want)
		}
	})
}

func TestNotUnicode(t *testing.T) {
	if Lower("\u212a") != "\u212a" || EqualFold("\u212a", "k") || EqualFold("ß", "SS") {
		t.Error("folded a letter beyond ASCII")
	}
	if !EqualFold("Me@Example.COM", "me@example.com") {
		t.Error("ASCII letters not folded")
	}
}
