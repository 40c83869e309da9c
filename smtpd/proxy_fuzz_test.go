package smtpd_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
)

// TestProxyHeaderWithPipelinedCommands: the commands a client pipelines
// behind the balancer's header, in the same packet or byte by byte, are
// read as commands, none lost to the header's reader.
func TestProxyHeaderWithPipelinedCommands(t *testing.T) {
	addr, rec := startProxied(t, "127.0.0.1/32", nil)
	c4 := netip.MustParseAddrPort("203.0.113.7:40001")
	d4 := netip.MustParseAddrPort("192.0.2.25:25")
	commands := "EHLO client.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<me@example.com>\r\nDATA\r\nSubject: hi\r\n\r\nhi\r\n.\r\nQUIT\r\n"
	for _, tc := range []struct{ name, header string }{
		{"v1", "PROXY TCP4 203.0.113.7 192.0.2.25 40001 25\r\n"},
		{"v2", proxyV2(1, 0x11, v2Addrs(c4, d4))},
	} {
		for _, split := range []bool{false, true} {
			name := tc.name + " in one write"
			if split {
				name = tc.name + " byte by byte"
			}
			t.Run(name, func(t *testing.T) {
				before := len(rec.messages())
				sent := tc.header + commands
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if split {
					for i := range len(sent) {
						if _, err := c.Write([]byte{sent[i]}); err != nil {
							t.Fatal(err)
						}
					}
				} else if _, err := io.WriteString(c, sent); err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(c)
				if err != nil {
					t.Fatalf("reading the replies: %v (so far %q)", err, got)
				}
				codes := replyCodes(string(got))
				if want := "220 250 250 250 354 250 221"; codes != want {
					t.Errorf("reply codes %q, want %q; replies:\n%s", codes, want, got)
				}
				if n := len(rec.messages()); n != before+1 {
					t.Errorf("%d messages received, want 1", n-before)
				}
				if got := rec.connected(); got[len(got)-1] != c4 {
					t.Errorf("Connect handler saw %v, want %v", got[len(got)-1], c4)
				}
			})
		}
	}
}

// replyCodes returns the codes of the last lines of the replies in s,
// separated by spaces.
func replyCodes(s string) string {
	var codes []string
	for line := range strings.SplitSeq(s, "\r\n") {
		if len(line) >= 4 && line[3] == ' ' {
			codes = append(codes, line[:3])
		}
	}
	return strings.Join(codes, " ")
}

// FuzzProxyHeader sends any bytes as the start of a trusted balancer's
// connection, then ends it, and holds the server to the PROXY parser read
// directly from the same bytes in memory: where that parser finds a valid
// header the client is greeted (220), and where it does not, the server
// closes the connection without a byte. The server never hangs (the read
// has a deadline) and never panics.
func FuzzProxyHeader(f *testing.F) {
	c4 := netip.MustParseAddrPort("203.0.113.7:40001")
	d4 := netip.MustParseAddrPort("192.0.2.25:25")
	c6 := netip.MustParseAddrPort("[2001:db8::7]:40002")
	d6 := netip.MustParseAddrPort("[2001:db8::25]:25")
	for _, seed := range []string{
		"PROXY TCP4 203.0.113.7 192.0.2.25 40001 25\r\nEHLO x\r\n",
		"PROXY TCP6 2001:db8::7 2001:db8::25 40002 25\r\n",
		"PROXY UNKNOWN\r\n",
		"PROXY TCP4 203.0.113.7 192.0.2.25 40001 25\n",
		"PROXY TCP4 999.0.0.1 192.0.2.25 40001 25\r\n",
		proxyV2(1, 0x11, v2Addrs(c4, d4)) + "QUIT\r\n",
		proxyV2(1, 0x21, v2Addrs(c6, d6)),
		proxyV2(0, 0x00, nil),
		proxyV2(1, 0x11, append(v2Addrs(c4, d4), 0x04, 0, 1, 'x')),
		proxyV2(1, 0x11, v2Addrs(c4, d4))[:20],
		"EHLO x\r\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	addr, _ := startProxied(f, "127.0.0.1/32", nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, refErr := proxyproto.Read(bufio.NewReader(bytes.NewReader(data)))
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(data); err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).CloseWrite()
		got, err := io.ReadAll(c)
		if err != nil && !isReset(err) {
			t.Fatalf("after %q: %v (read %q)", data, err, got)
		}
		greeted := bytes.HasPrefix(got, []byte("220 "))
		switch {
		case refErr == nil && !greeted:
			t.Errorf("%q is a valid PROXY header to the parser, but the server answered %q", data, got)
		case refErr != nil && len(got) > 0:
			t.Errorf("%q is no valid PROXY header (%v), but the server answered %q", data, refErr, got)
		}
	})
}

// isReset reports whether err is a connection reset, which a server that
// closes with unread input causes.
func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}
