package mtasts_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ownmx/ownmx/mtasts"
)

// RFC 8461 §3.1: records that give an id.
func TestParseRecordValid(t *testing.T) {
	id32 := strings.Repeat("Z9", 16)
	tests := []struct{ txt, id string }{
		{"v=STSv1; id=20160831085700Z;", "20160831085700Z"},
		{"v=STSv1; id=20160831085700Z", "20160831085700Z"},
		{"v=STSv1;id=abc", "abc"},
		{"v=STSv1;id=abc;", "abc"},
		{"v=STSv1 ; id=abc ; ", "abc"},
		{"v=STSv1;\tid=abc\t;\t", "abc"},
		{"v=STSv1; id=" + id32 + ";", id32},
		{"v=STSv1; id=1", "1"},
		{"v=STSv1; ext=value; id=abc", "abc"},
		{"v=STSv1; id=abc; x.y_z-0=!\"#$%&'()*+,-./0123456789:<>?@AZ[\\]^_`az{|}~", "abc"},
		{"v=STSv1; " + strings.Repeat("k", 32) + "=v; id=abc", "abc"},
	}
	for _, tt := range tests {
		id, err := mtasts.ParseRecord(tt.txt)
		if err != nil || id != tt.id {
			t.Errorf("ParseRecord(%q) = %q, %v; want %q", tt.txt, id, err, tt.id)
		}
	}
}

// RFC 8461 §3.1: every way a record can be malformed.
func TestParseRecordMalformed(t *testing.T) {
	tests := []struct{ txt, msg string }{
		{"", "does not start with v=STSv1"},
		{"id=abc; v=STSv1", "does not start with v=STSv1"},
		{" v=STSv1; id=abc", "does not start with v=STSv1"},
		{"V=STSv1; id=abc", "does not start with v=STSv1"},
		{"v=stsv1; id=abc", "does not start with v=STSv1"},
		{"v=STSv2; id=abc", "does not start with v=STSv1"},
		{"v=STSv10; id=abc", `v=STSv1 is not followed by ";"`},
		{"v=STSv1 id=abc", `v=STSv1 is not followed by ";"`},
		{"v=STSv1", "no id= field"},
		{"v=STSv1;", "no id= field"},
		{"v=STSv1; ext=value", "no id= field"},
		{"v=STSv1; ID=abc", "no id= field"},
		{"v=STSv1;; id=abc", "empty field"},
		{"v=STSv1; id=abc;;", "empty field"},
		{"v=STSv1; ; id=abc", "empty field"},
		{"v=STSv1; id=", `field "id=" is not name=value`},
		{"v=STSv1; id", `field "id" is not name=value`},
		{"v=STSv1; =abc; id=abc", `field "=abc"`},
		{"v=STSv1; id=a b", `field "id=a b"`},
		{"v=STSv1; id=a=b", `field "id=a=b"`},
		{"v=STSv1; id = abc", `field "id = abc"`},
		{"v=STSv1; id=abc; ext=", `field "ext="`},
		{"v=STSv1; id=abc; ext=a b", `field "ext=a b"`},
		{"v=STSv1; id=abc; _ext=x", `field "_ext=x"`},
		{"v=STSv1; id=abc; " + strings.Repeat("k", 33) + "=v", "is not name=value"},
		{"v=STSv1; id=abc; ext=é", "is not name=value"},
		{"v=STSv1; id=abc; ext=\x00", "is not name=value"},
		{"v=STSv1; id=abc; ext=\x7f", "is not name=value"},
		{"v=STSv1; id=a-b", `id "a-b" is not 1 to 32 letters and digits`},
		{"v=STSv1; id=a.b", "is not 1 to 32 letters and digits"},
		{"v=STSv1; id=" + strings.Repeat("a", 33), "is not 1 to 32 letters and digits"},
		{"v=STSv1; id=abc; id=abc", "second id= field"},
		{"v=STSv1; id=abc; id=def", "second id= field"},
		{"v=STSv1; v=STSv1; id=abc", "second v= field"},
	}
	for _, tt := range tests {
		id, err := mtasts.ParseRecord(tt.txt)
		var se *mtasts.SyntaxError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), tt.msg) || !strings.Contains(err.Error(), "_mta-sts record") {
			t.Errorf("ParseRecord(%q) = %q, %v; want a *SyntaxError saying %q", tt.txt, id, err, tt.msg)
		}
	}
}
