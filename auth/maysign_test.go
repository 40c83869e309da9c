package auth

import (
	"reflect"
	"strings"
	"testing"
)

// The smtpd glue skips the DKIM pass over a message whose header cannot
// hold a signature; its results must be those of the full check.
func TestCheckSkipsUnsignedBody(t *testing.T) {
	c, _ := newChecker(t)
	spf := c.SPF(t.Context(), ip1, "mta.example.com", "alice@example.com")
	body := strings.Repeat("Some body text of a usual length.\r\n", 50)
	signed := sign(t, testMessage("alice@example.com")+body, "example.com", "ed")
	cases := map[string]string{
		"unsigned":           testMessage("alice@example.com") + body,
		"signed":             signed,
		"signed, lower case": strings.Replace(signed, "DKIM-Signature:", "dkim-signature:", 1),
		"signed, space":      strings.Replace(signed, "DKIM-Signature:", "DKIM-Signature :", 1),
		"header only":        "From: alice@example.com\r\nSubject: no body\r\n",
		"header only, LF":    "From: alice@example.com\nSubject: no body\n",
		"LF line ends":       "From: alice@example.com\nSubject: hi\n\nbody\n",
		"empty header":       "\r\nbody\r\n",
		"body names it":      testMessage("alice@example.com") + "DKIM-Signature: v=1; in the body\r\n",
	}
	for name, msg := range cases {
		t.Run(name, func(t *testing.T) {
			full, _, _, ferr := c.check(t.Context(), spf, strings.NewReader(msg), true)
			skip, _, _, serr := c.check(t.Context(), spf, strings.NewReader(msg), false)
			if (ferr == nil) != (serr == nil) {
				t.Fatalf("errors differ: full %v, skipping %v", ferr, serr)
			}
			if ferr != nil {
				return
			}
			if !reflect.DeepEqual(dkimSummary(full.DKIM), dkimSummary(skip.DKIM)) {
				t.Errorf("DKIM: full %v, skipping %v", dkimSummary(full.DKIM), dkimSummary(skip.DKIM))
			}
			if full.DMARC.Result != skip.DMARC.Result || full.Verdict() != skip.Verdict() {
				t.Errorf("DMARC: full %s/%s, skipping %s/%s", full.DMARC.Result, full.Verdict(), skip.DMARC.Result, skip.Verdict())
			}
		})
	}
}

func dkimSummary(res []DKIMResult) []string {
	out := []string{}
	for _, r := range res {
		out = append(out, string(r.Result)+" "+r.Domain)
	}
	return out
}

func TestMaySign(t *testing.T) {
	for head, want := range map[string]bool{
		"From: a\r\n\r\n":                      false,
		"From: a\n\n":                          false,
		"\r\n":                                 false,
		"\n":                                   false,
		"From: a\r\nTo: b\r\n":                 true, // no empty line: dkim fails to read it
		"From: a":                              true,
		"":                                     true,
		"DKIM-Signature: v=1\r\n\r\n":          true,
		"From: a\r\ndkim-SIGNATURE: x\r\n\r\n": true,
		"From: a\r\nX: \r\n\r\n":               false,
	} {
		if got := maySign([]byte(head)); got != want {
			t.Errorf("maySign(%q) = %v, want %v", head, got, want)
		}
	}
}
