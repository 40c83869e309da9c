package extfield

import (
	"strings"
	"testing"
)

// Every byte is tried in every position of a name, and as a value, against
// the RFCs' ABNF written out as byte ranges.
func TestEveryByte(t *testing.T) {
	letDig := func(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' }
	for b := range 256 {
		c := byte(b)
		if got, want := ValidName(string(c)), letDig(c); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", c, got, want)
		}
		if got, want := ValidName("a"+string(c)), letDig(c) || c == '_' || c == '-' || c == '.'; got != want {
			t.Errorf("ValidName(%q) = %v, want %v", "a"+string(c), got, want)
		}
		// %x21-3A / %x3C / %x3E-7E
		if got, want := ValidValue(string(c)), c >= 0x21 && c <= 0x3a || c == 0x3c || c >= 0x3e && c <= 0x7e; got != want {
			t.Errorf("ValidValue(%q) = %v, want %v", c, got, want)
		}
	}
}

func TestLengths(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"", false},
		{strings.Repeat("a", 32), true},
		{strings.Repeat("a", 33), false},
		{"_a", false},
		{"tls-rpt.v_2", true},
	} {
		if got := ValidName(tc.name); got != tc.want {
			t.Errorf("ValidName(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
	if ValidValue("") {
		t.Error(`ValidValue("") = true, want false`)
	}
	if !ValidValue(strings.Repeat("x", 1000)) {
		t.Error("a long value is refused: the RFCs give no bound")
	}
}
