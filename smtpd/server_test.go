package smtpd_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"go.uber.org/goleak"

	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestRcptRequired: a Server without a Rcpt handler would relay for
// anyone, so it does not start (item 10); nor does one without Data.
func TestRcptRequired(t *testing.T) {
	data := smtpd.DataFunc(func(context.Context, *smtpd.Envelope, io.Reader) error { return nil })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	err = (&smtpd.Server{Data: data}).Serve(l)
	if err == nil || !strings.Contains(err.Error(), "Rcpt") {
		t.Errorf("Serve without Rcpt = %v, want an error naming Rcpt", err)
	}
	err = (&smtpd.Server{Rcpt: smtpd.AcceptDomains("example.com")}).Serve(l)
	if err == nil || !strings.Contains(err.Error(), "Data") {
		t.Errorf("Serve without Data = %v, want an error naming Data", err)
	}
}

// TestHappyPathGoSMTPClient sends with go-smtp's client: several
// recipients, dot-stuffed lines, the exact bytes kept.
func TestHappyPathGoSMTPClient(t *testing.T) {
	ts := newTestServer(t, nil)
	body := "Subject: test\r\nFrom: alice@example.org\r\n\r\n.leading dot\r\n..two dots\r\nend\r\n"
	if err := smtptest.Send(ts.addr, "alice@example.org", []string{"bob@example.com", "carol@example.com", "bob@example.com"}, body); err != nil {
		t.Fatal(err)
	}
	msgs := ts.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages stored, want 1", len(msgs))
	}
	received, rest, ok := strings.Cut(msgs[0], "\r\nSubject:")
	if !ok || "Subject:"+rest != body {
		t.Errorf("stored %q, want the Received header then %q", msgs[0], body)
	}
	if strings.Contains(received, "for <") {
		t.Errorf("Received names a recipient of a message to several: %q", received)
	}
}

// TestConcurrentSessions: many clients at once, several messages each.
func TestConcurrentSessions(t *testing.T) {
	ts := newTestServer(t, nil)
	const clients, perClient = 20, 5
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := smtp.Dial(ts.addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for j := range perClient {
				msg := fmt.Sprintf("Subject: %d-%d\r\n\r\nhello\r\n", i, j)
				if err := c.SendMail("alice@example.org", []string{"bob@example.com"}, strings.NewReader(msg)); err != nil {
					errs <- err
					return
				}
			}
			errs <- c.Quit()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := len(ts.messages()); n != clients*perClient {
		t.Errorf("%d messages stored, want %d", n, clients*perClient)
	}
}

// trickle sends s one byte at a time, one every interval, until it is all
// sent or the server stops taking it; it returns how many bytes went out.
// The pacing is the client's behaviour under test, not synchronisation.
func trickle(conn net.Conn, s string, interval time.Duration, stop <-chan struct{}) int {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := range len(s) {
		select {
		case <-stop:
			return i
		case <-tick.C:
		}
		if _, err := conn.Write([]byte{s[i]}); err != nil {
			return i
		}
	}
	return len(s)
}

// TestTrickleIsCutOff (item 3): a client that sends a byte every 50 ms
// renews no deadline: with a 300 ms read timeout its line, which would take
// 10 s, is cut off with 421 long before it is complete, in a command and
// in DATA.
func TestTrickleIsCutOff(t *testing.T) {
	long := strings.Repeat("x", 200)
	for _, tc := range []struct {
		name  string
		setup []string
		line  string
	}{
		{"command", []string{"EHLO client.example.org"}, "MAIL FROM:<" + long + "@example.org>\r\n"},
		{"data", []string{"EHLO client.example.org", "MAIL FROM:<alice@example.org>", "RCPT TO:<bob@example.com>", "DATA"}, "Subject: " + long + "\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, map[string]string{"read-timeout": "300ms"})
			c := smtptest.Dial(t, ts.addr)
			c.ReadReply()
			for _, l := range tc.setup {
				if r := c.Cmd(l); r.Code >= 400 {
					t.Fatalf("%s: %s", l, r)
				}
			}
			stop := make(chan struct{})
			sent := make(chan int, 1)
			go func() { sent <- trickle(c.Conn(), tc.line, 50*time.Millisecond, stop) }()
			r, err := c.ReadReply()
			close(stop)
			n := <-sent
			if err != nil || r.Code != 421 || !strings.HasPrefix(r.Last(), "421 4.4.2") {
				t.Fatalf("reply %q (%v), want 421 4.4.2", r.Last(), err)
			}
			if n >= len(tc.line) {
				t.Errorf("the whole line (%d bytes) went out before the cut-off", n)
			}
			if !c.Closed() {
				t.Error("connection still open after 421")
			}
		})
	}
}

// TestDataTimeoutCapsTransfer (item 3): lines that each arrive in time do
// not let a message take longer than DataTimeout.
func TestDataTimeoutCapsTransfer(t *testing.T) {
	ts := newTestServer(t, map[string]string{"read-timeout": "5s", "data-timeout": "400ms"})
	c := smtptest.Dial(t, ts.addr)
	c.ReadReply()
	for _, l := range []string{"EHLO client.example.org", "MAIL FROM:<alice@example.org>", "RCPT TO:<bob@example.com>", "DATA"} {
		c.Cmd(l)
	}
	stop := make(chan struct{})
	done := make(chan int, 1)
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := range 200 { // 10 s of lines if never cut off
			select {
			case <-stop:
				done <- i
				return
			case <-tick.C:
			}
			if c.WriteRaw("a line in time\r\n") != nil {
				done <- i
				return
			}
		}
		done <- 200
	}()
	r, err := c.ReadReply()
	close(stop)
	if n := <-done; n >= 200 {
		t.Errorf("all %d lines went out before the cut-off", n)
	}
	if err != nil || !strings.HasPrefix(r.Last(), "421 4.4.2") || !strings.Contains(r.Last(), "too long") {
		t.Fatalf("reply %q (%v), want 421 4.4.2 ... too long", r.Last(), err)
	}
	if len(ts.messages()) != 0 {
		t.Error("a message cut off was stored")
	}
}

// TestSessionTimeout (item 3): NOOPs in time do not keep a session open
// beyond SessionTimeout.
func TestSessionTimeout(t *testing.T) {
	ts := newTestServer(t, map[string]string{"session-timeout": "400ms", "max-junk": "-1"})
	c := smtptest.Dial(t, ts.addr)
	c.ReadReply()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for i := range 200 { // 10 s if never cut off
		<-tick.C
		if err := c.WriteRaw("NOOP\r\n"); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		r, err := c.ReadReply()
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if r.Code == 421 {
			if !strings.Contains(r.Last(), "Session too long") {
				t.Errorf("reply %q, want the session cap", r.Last())
			}
			return
		}
	}
	t.Fatal("session never cut off")
}

// TestShutdownFinishesTransactions: Shutdown closes idle sessions with 421
// at once, lets a message in flight finish with 250, then closes that
// session too, and Serve returns ErrServerClosed.
func TestShutdownFinishesTransactions(t *testing.T) {
	srv := newUnstartedServer(t, nil).srv
	addr, served := serve(t, srv)

	idle := smtptest.Dial(t, addr)
	idle.ReadReply()
	idle.Cmd("EHLO client.example.org")

	busy := smtptest.Dial(t, addr)
	busy.ReadReply()
	for _, l := range []string{"EHLO client.example.org", "MAIL FROM:<alice@example.org>", "RCPT TO:<bob@example.com>", "DATA"} {
		if r := busy.Cmd(l); r.Code >= 400 {
			t.Fatalf("%s: %s", l, r)
		}
	}
	busy.WriteRaw("Subject: in flight\r\n\r\n")

	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()

	if r, err := idle.ReadReply(); err != nil || !strings.HasPrefix(r.Last(), "421 4.3.2") {
		t.Fatalf("idle session got %q (%v), want 421 4.3.2", r.Last(), err)
	}
	if !idle.Closed() {
		t.Error("idle session still open")
	}
	busy.WriteRaw("the rest of the message\r\n.\r\n")
	if r, err := busy.ReadReply(); err != nil || r.Code != 250 {
		t.Fatalf("message in flight got %q (%v), want 250", r.Last(), err)
	}
	// The transaction is over: the session gets its 421 at once, without
	// waiting for another command, and ends.
	if r, err := busy.ReadReply(); err != nil || !strings.HasPrefix(r.Last(), "421 4.3.2") {
		t.Fatalf("after the transaction the session got %q (%v), want 421 4.3.2", r.Last(), err)
	}
	if !busy.Closed() {
		t.Error("session still open after its 421")
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	if err := <-served; !errors.Is(err, smtpd.ErrServerClosed) {
		t.Errorf("Serve = %v, want ErrServerClosed", err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("still accepting after Shutdown")
	}
}

// TestShutdownDeadline: a session that stalls inside a transaction keeps
// Shutdown waiting until its context ends; Close then cuts it.
func TestShutdownDeadline(t *testing.T) {
	srv := newUnstartedServer(t, nil).srv
	addr, served := serve(t, srv)
	c := smtptest.Dial(t, addr)
	c.ReadReply()
	c.Cmd("EHLO client.example.org")
	c.Cmd("MAIL FROM:<alice@example.org>")

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want the context's deadline", err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if !c.Closed() {
		t.Error("session still open after Close")
	}
	if err := <-served; !errors.Is(err, smtpd.ErrServerClosed) {
		t.Errorf("Serve = %v, want ErrServerClosed", err)
	}
}

// TestPanicKeepsServing (item 12) from many clients at once: every
// panicking session gets 421 and the others are served.
func TestPanicKeepsServing(t *testing.T) {
	ts := newTestServer(t, nil)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			to := "bob@example.com"
			if i%2 == 0 {
				to = "panic@example.com"
			}
			err := smtptest.Send(ts.addr, "alice@example.org", []string{to}, "Subject: x\r\n\r\nx\r\n")
			var se *smtpd.Error
			switch {
			case i%2 == 0 && (!errors.As(err, &se) || se.Code != 421):
				t.Errorf("panicking session: %v, want 421", err)
			case i%2 == 1 && err != nil:
				t.Errorf("normal session: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := len(ts.messages()); n != 5 {
		t.Errorf("%d messages stored, want 5", n)
	}
}

// serve runs srv on a loopback port, for tests that stop it themselves;
// Serve's result arrives on served.
func serve(t *testing.T, srv *smtpd.Server) (addr string, served <-chan error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan error, 1)
	go func() { ch <- srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String(), ch
}

// TestClientKey (issue 9 B): MaxConnectionsPerIP counts an IPv4 client by
// its address and an IPv6 client by its /64, or by the prefix lengths set.
func TestClientKey(t *testing.T) {
	for _, tc := range []struct {
		name     string
		v4, v6   int // IPv4PrefixLen, IPv6PrefixLen
		ip, want string
	}{
		{"v4 default", 0, 0, "192.0.2.77", "192.0.2.77/32"},
		{"v4 /24", 24, 0, "192.0.2.77", "192.0.2.0/24"},
		{"v4 /8", 8, 0, "127.0.0.2", "127.0.0.0/8"},
		{"v4 negative means each address", -1, 0, "192.0.2.77", "192.0.2.77/32"},
		{"v4 over 32 means each address", 40, 0, "192.0.2.77", "192.0.2.77/32"},
		{"v4 setting leaves v6 alone", 8, 0, "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"v6 default /64", 0, 0, "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"v6 default, last address of the /64", 0, 0, "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"v6 loopback", 0, 0, "::1", "::/64"},
		{"v6 /48", 0, 48, "2001:db8:1:2:3:4:5:6", "2001:db8:1::/48"},
		{"v6 /56", 0, 56, "2001:db8:1:2ff:3:4:5:6", "2001:db8:1:200::/56"},
		{"v6 negative means each address", 0, -1, "2001:db8:1:2:3:4:5:6", "2001:db8:1:2:3:4:5:6/128"},
		{"v6 over 128 means each address", 0, 200, "2001:db8::6", "2001:db8::6/128"},
		{"v6 setting leaves v4 alone", 0, 48, "192.0.2.77", "192.0.2.77/32"},
		{"v4-mapped v6 counts as v4", 0, 0, "::ffff:192.0.2.77", "192.0.2.77/32"},
		{"v4-mapped v6 with v4 /24", 24, 0, "::ffff:192.0.2.77", "192.0.2.0/24"},
		{"v6 zone dropped", 0, 0, "fe80::1:2%eth0", "fe80::/64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := &smtpd.Server{IPv4PrefixLen: tc.v4, IPv6PrefixLen: tc.v6}
			got := smtpd.ClientKey(srv, netip.MustParseAddr(tc.ip))
			if got != netip.MustParsePrefix(tc.want) {
				t.Errorf("key of %s = %s, want %s", tc.ip, got, tc.want)
			}
		})
	}
	if got := smtpd.ClientKey(&smtpd.Server{}, netip.Addr{}); got.IsValid() {
		t.Errorf("key of no address = %s, want the zero Prefix", got)
	}
}

// addrListener hands out the loopback connections it accepts as coming
// from the addresses in from, in turn, so that the server sees clients of
// any network while the test talks SMTP over 127.0.0.1. Clients must
// connect one at a time (each reading its greeting before the next dials)
// for the addresses to go to them in order.
type addrListener struct {
	net.Listener
	mu   sync.Mutex
	from []netip.AddrPort
}

func (l *addrListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.from) == 0 {
		return c, nil
	}
	from := l.from[0]
	l.from = l.from[1:]
	return fromConn{c, net.TCPAddrFromAddrPort(from)}, nil
}

// fromConn is a connection with another remote address.
type fromConn struct {
	net.Conn
	remote net.Addr
}

func (c fromConn) RemoteAddr() net.Addr { return c.remote }

// TestConnectionsPerNetwork (issue 9 B): the per-IP cap counts the clients
// of one IPv6 /64 together, IPv4 clients by address, and the prefix
// lengths set on the Server; a place is free again when a client quits.
func TestConnectionsPerNetwork(t *testing.T) {
	type dial struct {
		from string
		want string // the greeting's start
	}
	for _, tc := range []struct {
		name   string
		perIP  int
		v4, v6 int
		dials  []dial
	}{
		{"defaults", 2, 0, 0, []dial{
			{"2001:db8:1::1", "220"},
			{"2001:db8:1::2", "220"},
			{"2001:db8:1:0:ffff:ffff:ffff:ffff", "421 4.7.0"}, // the same /64
			{"2001:db8:1:1::1", "220"},                        // the next /64
			{"192.0.2.1", "220"},
			{"::ffff:192.0.2.1", "220"}, // the same IPv4 address
			{"192.0.2.1", "421 4.7.0"},
			{"192.0.2.2", "220"},
		}},
		{"v4 /24, v6 /48", 1, 24, 48, []dial{
			{"2001:db8:1::1", "220"},
			{"2001:db8:1:ff::1", "421 4.7.0"},
			{"2001:db8:2::1", "220"},
			{"192.0.2.1", "220"},
			{"192.0.2.200", "421 4.7.0"},
			{"192.0.3.1", "220"},
		}},
		{"each address on its own", 1, -1, -1, []dial{
			{"2001:db8::1", "220"},
			{"2001:db8::2", "220"},
			{"2001:db8::1", "421 4.7.0"},
			{"192.0.2.1", "220"},
			{"192.0.2.2", "220"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newUnstartedServer(t, nil)
			ts.srv.MaxConnectionsPerIP, ts.srv.IPv4PrefixLen, ts.srv.IPv6PrefixLen = tc.perIP, tc.v4, tc.v6
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			al := &addrListener{Listener: l}
			for i, d := range tc.dials {
				al.from = append(al.from, netip.AddrPortFrom(netip.MustParseAddr(d.from), uint16(40000+i)))
			}
			served := make(chan error, 1)
			go func() { served <- ts.srv.Serve(al) }()
			t.Cleanup(func() { ts.srv.Close(); <-served })

			var first *smtptest.Client
			for _, d := range tc.dials {
				c := smtptest.Dial(t, l.Addr().String())
				r, err := c.ReadReply()
				if err != nil || !strings.HasPrefix(r.Last(), d.want) {
					t.Fatalf("client from %s got %q (%v), want %s", d.from, r.Last(), err, d.want)
				}
				if first == nil {
					first = c
				}
			}
			// The first client quits: one more from its network is served.
			if r := first.Cmd("QUIT"); r.Code != 221 {
				t.Fatalf("QUIT: %s", r)
			}
			al.mu.Lock()
			al.from = []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr(tc.dials[0].from), 50000)}
			al.mu.Unlock()
			c := smtptest.Dial(t, l.Addr().String())
			if r, err := c.ReadReply(); err != nil || r.Code != 220 {
				t.Fatalf("after a QUIT, a client from %s got %q (%v), want 220", tc.dials[0].from, r.Last(), err)
			}
		})
	}
}

// TestConnectionsPerNetworkLoopback (issue 9 B) counts real source
// addresses: 127.0.0.1 and 127.0.0.2 are two clients, unless
// IPv4PrefixLen puts them in one network. (IPv6 has only ::1 on loopback,
// one address of its /64: TestConnectionsPerNetwork covers IPv6.)
func TestConnectionsPerNetworkLoopback(t *testing.T) {
	for _, tc := range []struct {
		v4   int
		want string
	}{{0, "220"}, {24, "421 4.7.0"}} {
		t.Run(fmt.Sprintf("IPv4PrefixLen=%d", tc.v4), func(t *testing.T) {
			ts := newUnstartedServer(t, map[string]string{"max-connections-per-ip": "1"})
			ts.srv.IPv4PrefixLen = tc.v4
			addr := smtptest.Start(t, ts.srv)
			a := smtptest.Dial(t, addr)
			if r, err := a.ReadReply(); err != nil || r.Code != 220 {
				t.Fatalf("first client got %q (%v)", r.Last(), err)
			}
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 10 * time.Second}
			conn, err := d.Dial("tcp", addr)
			if err != nil {
				t.Fatalf("dial from 127.0.0.2: %v", err)
			}
			b := smtptest.NewClient(t, conn)
			if r, err := b.ReadReply(); err != nil || !strings.HasPrefix(r.Last(), tc.want) {
				t.Fatalf("client from 127.0.0.2 got %q (%v), want %s", r.Last(), err, tc.want)
			}
		})
	}
}

// staysOpen fails the test if the server replies to c or closes it within
// d: a deadline on the client's read, not a sleep. It then checks that the
// session still answers.
func staysOpen(t *testing.T, c *smtptest.Client, d time.Duration) {
	t.Helper()
	c.Timeout = d
	r, err := c.ReadReply()
	c.Timeout = 10 * time.Second
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("within %v the idle session got %q (%v), want nothing", d, r.Last(), err)
	}
	if r := c.Cmd("NOOP"); r.Code != 250 {
		t.Fatalf("NOOP after waiting: %s", r)
	}
}

// TestOverload (issue 9 B): the read timeout shrinks to
// OverloadReadTimeout only at 80% of MaxConnections, and grows back for the
// sessions waiting for a line once the load drops under 70%. (That it
// applies to a session already waiting when the overload starts is
// dialogue 15-overload.)
func TestOverload(t *testing.T) {
	opts := map[string]string{"max-connections": "5", "read-timeout": "1h", "overload-read-timeout": "200ms"}

	t.Run("two of five", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, opts)
		a := smtptest.Dial(t, ts.addr)
		a.ReadReply()
		a.Cmd("EHLO client.example.org")
		b := smtptest.Dial(t, ts.addr)
		if r, err := b.ReadReply(); err != nil || r.Code != 220 {
			t.Fatalf("second client: %q (%v)", r.Last(), err)
		}
		staysOpen(t, a, time.Second)
	})

	t.Run("negative means never", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, map[string]string{"max-connections": "5", "read-timeout": "1h", "overload-read-timeout": "-1s"})
		a := smtptest.Dial(t, ts.addr)
		a.ReadReply()
		for range 4 {
			c := smtptest.Dial(t, ts.addr)
			if r, err := c.ReadReply(); err != nil || r.Code != 220 {
				t.Fatalf("greeting: %q (%v)", r.Last(), err)
			}
		}
		staysOpen(t, a, time.Second)
	})

	t.Run("ends when the load drops", func(t *testing.T) {
		t.Parallel()
		// Three sessions wait inside the Data handler, where no read
		// timeout runs; a fourth one, idle, brings the overload. The
		// first of the three to end brings the load under 70% before
		// the idle session's short deadline (3 s, against the few
		// milliseconds that takes, or a second on a machine loaded
		// enough): the deadline moves out again.
		ts := newUnstartedServer(t, map[string]string{"max-connections": "5", "read-timeout": "1h", "overload-read-timeout": "3s"})
		entered, release := make(chan struct{}, 3), make(chan struct{})
		ts.srv.Data = smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
			if _, err := io.Copy(io.Discard, r); err != nil {
				return err
			}
			entered <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		})
		addr := smtptest.Start(t, ts.srv)
		var busy []*smtptest.Client
		for range 3 {
			c := smtptest.Dial(t, addr)
			c.ReadReply()
			c.WriteRaw("EHLO client.example.org\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n")
			for range 4 {
				if r, err := c.ReadReply(); err != nil || r.Code >= 400 {
					t.Fatalf("before the message: %q (%v)", r.Last(), err)
				}
			}
			c.WriteRaw("Subject: held\r\n\r\nbody\r\n.\r\n")
			select {
			case <-entered:
			case <-time.After(10 * time.Second):
				t.Fatal("the Data handler was not called")
			}
			busy = append(busy, c)
		}
		idle := smtptest.Dial(t, addr) // the fourth: overloaded
		if r, err := idle.ReadReply(); err != nil || r.Code != 220 {
			t.Fatalf("fourth client: %q (%v)", r.Last(), err)
		}
		release <- struct{}{}
		if r, err := busy[0].ReadReply(); err != nil || r.Code != 250 {
			t.Fatalf("held message: %q (%v)", r.Last(), err)
		}
		if r := busy[0].Cmd("QUIT"); r.Code != 221 {
			t.Fatalf("QUIT: %s", r)
		}
		staysOpen(t, idle, 4*time.Second)
		close(release)
		for _, c := range busy[1:] {
			if r, err := c.ReadReply(); err != nil || r.Code != 250 {
				t.Fatalf("held message: %q (%v)", r.Last(), err)
			}
		}
		if !strings.Contains(ts.log(), "no longer overloaded") {
			t.Errorf("log lacks the end of the overload:\n%s", ts.log())
		}
	})
}
