package smtpd_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// replyLine is a reply line: code, separator, printable US-ASCII text
// (RFC 5321 §4.2: replies are ASCII; SMTPUTF8 does not change that).
var replyLine = regexp.MustCompile(`^[2-5][0-5][0-9][ -][\x20-\x7e]*\r\n$`)

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
		var replies []string // the last line of each reply
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
			if line[3] == ' ' {
				replies = append(replies, line)
			}
		}
		if err := oneReplyEach(input, replies); err != nil {
			t.Fatalf("%v\nreplies: %q", err, replies)
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

// oneReplyEach checks that the server answered every command of input
// once, in order: it walks the client's bytes as the server must read them
// (a command line ends at LF; after a 354 the message ends at CR LF "."
// CR LF) and matches each command with the next reply, whose code must be
// one that command can get. A 421 may come after any reply and ends the
// session, as do 221 and the replies to BDAT and to the HTTP verbs; input
// left after the last LF is no command.
func oneReplyEach(input []byte, replies []string) error {
	next := func(what string) (int, error) {
		if len(replies) == 0 {
			return 0, fmt.Errorf("no reply to %s", what)
		}
		code, _ := strconv.Atoi(replies[0][:3])
		replies = replies[1:]
		return code, nil
	}
	code, err := next("the connection")
	if err != nil || code != 220 {
		return fmt.Errorf("greeting %d, %v", code, err)
	}
	rest := input
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break // the client stopped in mid-line: the server waits, then reads EOF
		}
		line := rest[:i+1]
		rest = rest[i+1:]
		verb := strings.ToUpper(strings.TrimRight(strings.SplitN(string(line), " ", 2)[0], "\r\n"))
		what := fmt.Sprintf("command %q", line)
		code, err := next(what)
		if err != nil {
			return err
		}
		if len(line) > 2048 {
			verb = "too long"
		}
		if !replyFits(verb, code) {
			return fmt.Errorf("%s answered %d", what, code)
		}
		if code == 354 {
			end := bytes.Index(append([]byte("\r\n"), rest...), []byte("\r\n.\r\n"))
			if end < 0 {
				// The client stopped inside the message: 421.
				code, err := next("a message cut short")
				if err != nil || code != 421 {
					return fmt.Errorf("message cut short answered %d (%v), want 421", code, err)
				}
				return checkNoMore(replies)
			}
			rest = rest[end+3:]
			code, err = next("a message")
			if err != nil {
				return err
			}
			if code != 250 && code < 400 {
				return fmt.Errorf("a message answered %d", code)
			}
		}
		if code == 421 || code == 221 || verb == "BDAT" {
			return checkNoMore(replies)
		}
		if len(replies) > 0 && strings.HasPrefix(replies[0], "421 ") && (code >= 400 || isJunk(verb)) {
			// The limit of errors or junk, reached by this command.
			replies = replies[1:]
			return checkNoMore(replies)
		}
	}
	return checkNoMore(replies)
}

func checkNoMore(replies []string) error {
	if len(replies) > 0 {
		return fmt.Errorf("replies no command asked for: %q", replies)
	}
	return nil
}

// isJunk reports whether verb counts against MaxJunkCommands.
func isJunk(verb string) bool {
	switch verb {
	case "NOOP", "RSET", "VRFY", "EXPN", "HELP", "EHLO", "HELO":
		return true
	}
	return false
}

// replyFits reports whether a command with this verb may be answered code.
func replyFits(verb string, code int) bool {
	if code == 421 || code == 500 || code == 501 {
		return true // any line: a closing reply, a line too long or bad
	}
	switch verb {
	case "EHLO", "HELO", "RSET", "NOOP":
		return code == 250
	case "MAIL", "RCPT":
		return code == 250 || code >= 400
	case "DATA":
		return code == 354 || code >= 400
	case "VRFY":
		return code == 252
	case "HELP":
		return code == 214
	case "QUIT":
		return code == 221
	case "EXPN", "BDAT":
		return code == 502
	case "STARTTLS":
		return code == 502 // the fuzzed server has no TLS
	case "AUTH":
		return code == 502
	}
	return false
}
