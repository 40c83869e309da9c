package smtpd_test

import (
	"bufio"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

var replyLine = regexp.MustCompile(`^[2-5][0-5][0-9][ -]`)

// FuzzDialog sends arbitrary bytes as a client's side of a session and
// checks the server's side: every line it writes is a well-formed reply,
// the session ends once the client is done (no hang), and the server goes
// on serving others.
func FuzzDialog(f *testing.F) {
	for _, s := range []string{
		"EHLO a.example\r\nMAIL FROM:<x@a.example>\r\nRCPT TO:<y@example.com>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n",
		"HELO a\r\nMAIL FROM:<> SIZE=1\r\nRCPT TO:<Postmaster>\r\nDATA\r\n.\r\n",
		"EHLO a\r\nMAIL FROM:<x@a> SMTPUTF8\r\nRCPT TO:<\xc3\xa9@example.com>\r\nDATA\r\n..\r\nline\nbare\r\n.\r\n",
		"EHLO a\r\nSTARTTLS\r\nAUTH PLAIN x\r\nBDAT 5 LAST\r\nhello",
		"\x00\x01\x02\r\n\r\n\n\n....\r\nRSET\r\nNOOP\r\nVRFY x\r\n",
		"EHLO a\r\nMAIL FROM:<\"a@b\"@c>\r\nRCPT TO:<\"a@b\"@example.com>\r\nDATA\r\nReceived: x\r\n\r\n.\r\n",
	} {
		f.Add([]byte(s))
	}
	ts := newTestServer(f, map[string]string{"read-timeout": "2s", "max-message-bytes": "4096"})
	f.Fuzz(func(t *testing.T, input []byte) {
		conn, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		go func() {
			conn.Write(input)
			conn.(*net.TCPConn).CloseWrite()
		}()
		br := bufio.NewReader(conn)
		for n := 0; ; n++ {
			line, err := br.ReadString('\n')
			if err != nil {
				if line != "" {
					t.Fatalf("reply cut short: %q", line)
				}
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatal("server still talking 10 s after the client finished")
				}
				break
			}
			if !replyLine.MatchString(line) || !strings.HasSuffix(line, "\r\n") {
				t.Fatalf("malformed reply line %q", line)
			}
		}
		alive, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatalf("server no longer accepting: %v", err)
		}
		alive.SetDeadline(time.Now().Add(10 * time.Second))
		greeting, err := bufio.NewReader(alive).ReadString('\n')
		alive.Close()
		if !strings.HasPrefix(greeting, "220 ") {
			t.Fatalf("greeting after the session: %q, %v", greeting, err)
		}
	})
}
