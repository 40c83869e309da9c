package smtpd_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// The dialogues under testdata/dialogs are SMTP conversations with a
// server set up by testServer. Their lines:
//
//	# comment
//	! option value        server setting, before the conversation
//	C: text               the client sends text and CRLF
//	C!: "go string"       the client sends exactly these bytes
//	S: prefix             one reply is read; its last line starts with prefix
//	S+: text              a line of the reply just read holds text
//	S-: text              no line of the reply just read holds text
//	S: <closed>           the server has closed the connection
//	= N                   go on on connection N (dialled when first named)
//	~ starttls            the client starts TLS on this connection
//	? stored N            N messages have been committed by the Data handler
//	? stored-contains s   the last committed message holds s ("go string")
//	? stored-lacks s      the last committed message does not hold s
//	? stored-prefix s     the last committed message starts with s
//	? log-contains s      the server's log holds s
//	? log-lacks s         the server's log does not hold s
//	? log-line s1 s2 ...  one line of the server's log holds every si
func TestDialogs(t *testing.T) {
	files, err := filepath.Glob("testdata/dialogs/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dialogues found: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			t.Parallel()
			script, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			runDialog(t, string(script))
		})
	}
}

// testServer is the server the dialogues talk to.
type testServer struct {
	srv  *smtpd.Server
	addr string

	mu     sync.Mutex
	stored []string
	logBuf bytes.Buffer
	conns  atomic.Int32
}

func (ts *testServer) Write(p []byte) (int, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.logBuf.Write(p)
}

func (ts *testServer) log() string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.logBuf.String()
}

func (ts *testServer) messages() []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]string(nil), ts.stored...)
}

// newTestServer returns a server for example.com that refuses, panics or
// fails on cue: sender blocked@spam.example is refused; recipients
// unknown@, fail@ (a plain error) and panic@ (a panic) misbehave; a
// message with "X-Panic: yes" or "X-Fail: yes" makes the Data handler
// panic or fail after reading it all. A handler replies with an *Error of
// code NNN for sender reply-NNN@spam.example, recipient reply-NNN@ and a
// message with "X-Reply: NNN".
func newTestServer(t testing.TB, opts map[string]string) *testServer {
	t.Helper()
	ts := newUnstartedServer(t, opts)
	ts.addr = smtptest.Start(t, ts.srv)
	return ts
}

// newUnstartedServer is newTestServer without the serving.
func newUnstartedServer(t testing.TB, opts map[string]string) *testServer {
	t.Helper()
	ts := &testServer{}
	srv := &smtpd.Server{
		Hostname: "mx.example.com",
		Logger:   slog.New(slog.NewTextHandler(ts, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Mail: smtpd.MailFunc(func(ctx context.Context, env *smtpd.Envelope) error {
			if env.From == "blocked@spam.example" {
				return smtpd.Errorf(550, smtpd.EnhancedCode{5, 7, 1}, "Sender blocked")
			}
			local, _, _ := smtpd.SplitAddress(env.From)
			return cuedReply(local)
		}),
		Rcpt: smtpd.AcceptDomains("example.com").Then(smtpd.RcptFunc(func(ctx context.Context, env *smtpd.Envelope, to string) error {
			local, _, _ := smtpd.SplitAddress(to)
			switch local {
			case "unknown":
				return smtpd.ErrNoSuchUser
			case "fail":
				return errors.New("user database: password hunter2 rejected")
			case "panic":
				panic("rcpt handler exploded")
			}
			return cuedReply(local)
		})),
		Data: smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
			b, err := io.ReadAll(r)
			if err != nil {
				return err
			}
			switch {
			case bytes.Contains(b, []byte("X-Panic: yes")):
				panic("data handler exploded")
			case bytes.Contains(b, []byte("X-Fail: yes")):
				return errors.New("disk on fire at /var/secret")
			}
			if _, after, ok := bytes.Cut(b, []byte("X-Reply: ")); ok {
				return cuedReply("reply-" + string(after[:3]))
			}
			ts.mu.Lock()
			ts.stored = append(ts.stored, string(b))
			ts.mu.Unlock()
			return nil
		}),
	}
	for k, v := range opts {
		switch k {
		case "max-message-bytes":
			srv.MaxMessageBytes = int64(atoi(t, v))
		case "max-recipients":
			srv.MaxRecipients = atoi(t, v)
		case "max-received":
			srv.MaxReceivedHeaders = atoi(t, v)
		case "max-connections":
			srv.MaxConnections = atoi(t, v)
		case "max-connections-per-ip":
			srv.MaxConnectionsPerIP = atoi(t, v)
		case "max-errors":
			srv.MaxErrors = atoi(t, v)
		case "max-junk":
			srv.MaxJunkCommands = atoi(t, v)
		case "max-empty-transactions":
			srv.MaxEmptyTransactions = atoi(t, v)
		case "read-timeout":
			srv.ReadTimeout = duration(t, v)
		case "overload-read-timeout":
			srv.OverloadReadTimeout = duration(t, v)
		case "data-timeout":
			srv.DataTimeout = duration(t, v)
		case "session-timeout":
			srv.SessionTimeout = duration(t, v)
		case "free-space":
			// The room FreeSpace reports, or "error".
			var free int64
			if v != "error" {
				free = int64(atoi(t, v))
			}
			srv.FreeSpace = func(ctx context.Context) (int64, error) {
				if v == "error" {
					return 0, errors.New("statfs /var/mail: input/output error")
				}
				return free, nil
			}
		case "free-space-reserve":
			srv.FreeSpaceReserve = int64(atoi(t, v))
		case "tls":
			srv.TLSConfig = testTLSConfig(t)
		case "refuse-connect":
			// Refuse the Nth connection: with a reply, or a plain error.
			n := int32(atoi(t, v))
			srv.Connect = smtpd.ConnectFunc(func(ctx context.Context, c *smtpd.Conn) error {
				if ts.conns.Add(1) == n {
					return smtpd.ErrAccessDenied
				}
				return nil
			})
		case "connect-error":
			srv.Connect = smtpd.ConnectFunc(func(ctx context.Context, c *smtpd.Conn) error {
				return errors.New("blocklist lookup failed: secret-token-42")
			})
		default:
			t.Fatalf("unknown dialogue option %q", k)
		}
	}
	ts.srv = srv
	return ts
}

// cuedReply returns, for a name "reply-NNN", an *Error of code NNN (a 2xx
// one too: a handler's mistake the server must not pass on), and nil for
// any other name.
func cuedReply(name string) error {
	code, err := strconv.Atoi(strings.TrimPrefix(name, "reply-"))
	if !strings.HasPrefix(name, "reply-") || err != nil {
		return nil
	}
	return &smtpd.Error{Code: code, Enhanced: smtpd.EnhancedCode{code / 100, 0, 0}, Message: "cued reply " + strconv.Itoa(code)}
}

func atoi(t testing.TB, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("bad number %q", s)
	}
	return n
}

func duration(t testing.TB, s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("bad duration %q", s)
	}
	return d
}

// runDialog plays a dialogue script against a fresh server.
func runDialog(t *testing.T, script string) {
	opts := map[string]string{}
	type step struct {
		n          int
		kind, text string
	}
	var steps []step
	sc := bufio.NewScanner(strings.NewReader(script))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "! "); ok {
			k, v, _ := strings.Cut(rest, " ")
			opts[k] = v
			continue
		}
		kind, text, ok := strings.Cut(line, " ")
		if !ok {
			kind = line
		}
		steps = append(steps, step{n, kind, text})
	}
	ts := newTestServer(t, opts)

	clients := map[int]*smtptest.Client{}
	cur := 0
	client := func(n int) *smtptest.Client {
		c, ok := clients[n]
		if !ok {
			c = smtptest.Dial(t, ts.addr)
			clients[n] = c
		}
		return c
	}
	var last smtptest.Reply
	for _, s := range steps {
		if cur == 0 {
			cur = 1
		}
		c := client(cur)
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("line %d %s %s: "+format, append([]any{s.n, s.kind, s.text}, args...)...)
		}
		switch s.kind {
		case "C:":
			if err := c.WriteRaw(s.text + "\r\n"); err != nil {
				fail("%v", err)
			}
		case "C!:":
			raw, err := strconv.Unquote(s.text)
			if err != nil {
				fail("not a Go string: %v", err)
			}
			if err := c.WriteRaw(raw); err != nil {
				fail("%v", err)
			}
		case "S:":
			if s.text == "<closed>" {
				if !c.Closed() {
					fail("connection still open")
				}
				continue
			}
			r, err := c.ReadReply()
			if err != nil {
				fail("reading reply: %v", err)
			}
			last = r
			if !strings.HasPrefix(r.Last(), s.text) {
				fail("got %q", r.String())
			}
		case "S+:", "S-:":
			found := strings.Contains(last.String(), s.text)
			if found != (s.kind == "S+:") {
				fail("in reply %q", last.String())
			}
		case "=":
			cur = atoi(t, s.text)
		case "~":
			if s.text != "starttls" {
				fail("unknown action")
			}
			tc := tls.Client(c.Conn(), &tls.Config{InsecureSkipVerify: true})
			if err := tc.Handshake(); err != nil {
				fail("TLS handshake: %v", err)
			}
			clients[cur] = smtptest.NewClient(t, tc)
		case "?":
			checkStored(t, ts, s.text, fail)
		default:
			fail("unknown step")
		}
	}
}

func checkStored(t *testing.T, ts *testServer, text string, fail func(string, ...any)) {
	t.Helper()
	what, arg, _ := strings.Cut(text, " ")
	msgs := ts.messages()
	lastMsg := ""
	if len(msgs) > 0 {
		lastMsg = msgs[len(msgs)-1]
	}
	unquote := func() string {
		s, err := strconv.Unquote(arg)
		if err != nil {
			fail("not a Go string: %v", err)
		}
		return s
	}
	switch what {
	case "stored":
		if len(msgs) != atoi(t, arg) {
			fail("%d messages stored", len(msgs))
		}
	case "stored-contains":
		if !strings.Contains(lastMsg, unquote()) {
			fail("last message: %q", lastMsg)
		}
	case "stored-lacks":
		if strings.Contains(lastMsg, unquote()) {
			fail("last message: %q", lastMsg)
		}
	case "stored-prefix":
		if !strings.HasPrefix(lastMsg, unquote()) {
			fail("last message: %q", lastMsg)
		}
	case "log-contains":
		if !strings.Contains(ts.log(), unquote()) {
			fail("log:\n%s", ts.log())
		}
	case "log-lacks":
		if strings.Contains(ts.log(), unquote()) {
			fail("log:\n%s", ts.log())
		}
	case "log-line":
		var want []string
		for rest := strings.TrimSpace(arg); rest != ""; rest = strings.TrimSpace(rest) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				fail("not a Go string: %q", rest)
			}
			s, _ := strconv.Unquote(q)
			want = append(want, s)
			rest = rest[len(q):]
		}
		if !slices.ContainsFunc(strings.Split(ts.log(), "\n"), func(line string) bool {
			return !slices.ContainsFunc(want, func(w string) bool { return !strings.Contains(line, w) })
		}) {
			fail("no line holds them all; log:\n%s", ts.log())
		}
	default:
		fail("unknown check")
	}
}

// testTLSConfig returns a server config with a self-signed certificate
// made for the test.
func testTLSConfig(t testing.TB) *tls.Config {
	t.Helper()
	server, _ := smtptest.TLSConfigs(t, "mx.example.com")
	return server
}
