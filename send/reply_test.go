package send_test

import (
	"strings"
	"testing"

	"github.com/ownmx/ownmx/smtpd"
)

// A server's reply becomes the Error's Code, Enhanced and Message: lines
// joined, control characters replaced, an enhanced code of another class
// than the reply's dropped (RFC 3463 §2).
func TestSendReplyText(t *testing.T) {
	tests := []struct {
		reply    string
		code     int
		enhanced smtpd.EnhancedCode
		message  string
	}{
		{"550 5.1.1 No such user", 550, smtpd.EnhancedCode{5, 1, 1}, "No such user"},
		{"550 No such user", 550, smtpd.EnhancedCode{}, "No such user"},
		{"550-5.1.1 first line\r\n550 5.1.1 second\x01line", 550, smtpd.EnhancedCode{5, 1, 1}, "first line second line"},
		{"550 4.1.1 wrong class", 550, smtpd.EnhancedCode{}, "wrong class"},
		{"553 5.1.3 caf\xe9", 553, smtpd.EnhancedCode{5, 1, 3}, "caf?"},
		{"550 5.7.1 " + strings.Repeat("x", 600) + "\r\n", 550, smtpd.EnhancedCode{5, 7, 1}, strings.Repeat("x", 600)},
	}
	for _, tt := range tests {
		t.Run(tt.reply, func(t *testing.T) {
			w := newWorld(t, twoMX...)
			w.fakeMTA("127.0.0.2", []string{"8BITMIME"}, map[string]string{"RCPT": strings.TrimSuffix(tt.reply, "\r\n")})
			e := sendErr(t, w.sender().Send(t.Context(), "alice@origin.test", "bob@example.test", msgOf(testMsg)))
			if e.Code != tt.code || e.Enhanced != tt.enhanced || e.Message != tt.message || !e.Permanent {
				t.Errorf("error %d %v %q (permanent %v), want %d %v %q", e.Code, e.Enhanced, e.Message, e.Permanent, tt.code, tt.enhanced, tt.message)
			}
		})
	}
}
