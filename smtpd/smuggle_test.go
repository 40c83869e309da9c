package smtpd_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// TestSmuggling plays, over SMTP, a message that holds a line-end-dot
// sequence other than CR LF "." CR LF, followed by a whole second
// transaction and then the real end marker (SMTP smuggling, the class of
// CVE-2023-51764). For every sequence the server must answer the whole
// thing once, store no second message, and stay in step: the VRFY after it
// gets its own reply (252), not one meant for the smuggled MAIL, RCPT or
// DATA.
//
// The sequences are the eleven named in issue 9, each also with its dot
// stuffed, and then every combination of what may come before and after
// the dot.
func TestSmuggling(t *testing.T) {
	seqs := []string{
		"\n.\n", "\n.\r\n", "\r\n.\n", "\r.\r", "\r.\r\n", "\r.\n", "\n.\r",
		"\r\n.\r", "\r\n.\r\r\n", "\r\n\x00.\r\n", "\r\n.\x00\r\n",
	}
	for _, s := range seqs[:11] {
		seqs = append(seqs, strings.Replace(s, ".", "..", 1))
	}
	befores := []string{"", "\r\n", "\n", "\r", "\r\r\n", "\n\r", "\r\n\x00", "\x00", "\r\n \r\n"}
	afters := []string{"\r\n", "\n", "\r", "\r\r\n", "\x00\r\n", "\n\r", " \r\n", "\r\n\r\n", ".\r\n"}
	for _, b := range befores {
		for _, a := range afters {
			for _, dot := range []string{".", ".."} {
				seqs = append(seqs, b+dot+a)
			}
		}
	}
	seen := map[string]bool{}
	for _, seq := range seqs {
		body := "hello" + seq
		if seen[seq] || strings.Contains(body, "\r\n.\r\n") {
			continue // a real end marker: not smuggling
		}
		seen[seq] = true
		t.Run(strconv.Quote(seq), func(t *testing.T) {
			t.Parallel()
			runDialog(t, smuggleDialog(body))
		})
	}
}

// smuggleDialog is a dialogue whose message holds body and then a second
// transaction.
func smuggleDialog(body string) string {
	// Only CR LF ends a line: a message with any other CR or LF is
	// refused, whole; one without is a single message holding the rest.
	bare := strings.ContainsAny(strings.ReplaceAll(body, "\r\n", ""), "\r\n")
	reply, stored := "250 2.0.0", `? stored 1
? stored-contains "Subject: SMUGGLED"`
	if bare {
		reply, stored = "554 5.6.0", "? stored 0"
	}
	q := strconv.Quote
	return fmt.Sprintf(`S: 220
C: EHLO client.example.org
S: 250
C: MAIL FROM:<a@sender.test>
S: 250
C: RCPT TO:<me@example.com>
S: 250
C: DATA
S: 354
C!: %s
C!: %s
C!: %s
S: %s
C: VRFY postmaster
S: 252 2.5.0
%s
? log-lacks "admin@bank.test"
C: QUIT
S: 221
S: <closed>
`, q("From: a@sender.test\r\nSubject: first\r\n\r\n"+body),
		q("MAIL FROM:<admin@bank.test>\r\nRCPT TO:<me@example.com>\r\nDATA\r\n"),
		q("From: admin@bank.test\r\nSubject: SMUGGLED\r\n\r\nsmuggled body\r\n.\r\n"),
		reply, stored)
}
