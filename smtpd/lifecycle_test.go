package smtpd_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// TestServeShutdownRace (R4): however Serve and Shutdown or Close
// interleave, Serve returns ErrServerClosed and nothing listens afterwards.
// A Serve that starts after them closes its listener at once.
func TestServeShutdownRace(t *testing.T) {
	for _, stop := range []string{"Shutdown", "Close"} {
		t.Run(stop, func(t *testing.T) {
			for i := 0; i < 50; i++ {
				srv := newUnstartedServer(t, nil).srv
				l, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				served := make(chan error, 1)
				var start sync.WaitGroup
				start.Add(1)
				go func() {
					start.Done()
					served <- srv.Serve(l)
				}()
				start.Wait()
				if stop == "Shutdown" {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					err = srv.Shutdown(ctx)
					cancel()
				} else {
					err = srv.Close()
				}
				if err != nil {
					t.Fatalf("%s = %v", stop, err)
				}
				select {
				case err := <-served:
					if !errors.Is(err, smtpd.ErrServerClosed) {
						t.Fatalf("Serve = %v, want ErrServerClosed", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("Serve still running 10s after %s", stop)
				}
				if c, err := net.Dial("tcp", l.Addr().String()); err == nil {
					c.Close()
					t.Fatalf("round %d: something still listens after %s", i, stop)
				}
			}
		})
	}
	t.Run("Serve after Shutdown", func(t *testing.T) {
		srv := newUnstartedServer(t, nil).srv
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(l) }()
		select {
		case err := <-served:
			if !errors.Is(err, smtpd.ErrServerClosed) {
				t.Fatalf("Serve = %v, want ErrServerClosed", err)
			}
		case <-time.After(10 * time.Second):
			l.Close()
			<-served
			t.Fatal("Serve after Shutdown still serving 10s later")
		}
		if _, err := l.Accept(); err == nil {
			t.Fatal("the listener given to Serve after Shutdown is still open")
		}
	})
}

// TestLingerAfter421: a client that is still sending when the server ends
// the session with 421 reads the 421, rather than a reset that would
// destroy it: the server half-closes and reads on for a moment before it
// closes.
func TestLingerAfter421(t *testing.T) {
	ts := newTestServer(t, map[string]string{"max-errors": "1"})
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	// Two bad commands end the session; what follows them is still in
	// flight, unread by the server, when the 421 is sent.
	junk := strings.Repeat("XYZZY plugh plover\r\n", 2000) // 40 KB
	if _, err := io.WriteString(c, "EHLO client.example.org\r\nFOO\r\nFOO\r\n"+junk); err != nil {
		t.Fatalf("writing: %v", err)
	}
	c.(*net.TCPConn).CloseWrite()
	br := bufio.NewReader(c)
	var replies []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if err != io.EOF {
				t.Fatalf("after %q: %v (a reset instead of the replies)", replies, err)
			}
			break
		}
		if len(line) > 3 && line[3] == ' ' {
			replies = append(replies, line[:3])
		}
	}
	if got := strings.Join(replies, " "); got != "220 250 500 500 421" {
		t.Fatalf("replies %q, want 220 250 500 500 421", got)
	}
}

// TestGoAheadBeforeHandlerReads: the client hears 354 before the Data
// handler starts to read, however long the handler takes to begin, since
// the client sends nothing until it does.
func TestGoAheadBeforeHandlerReads(t *testing.T) {
	heard := make(chan struct{})
	srv := &smtpd.Server{
		Hostname: "mx.example.com",
		Rcpt:     smtpd.AcceptDomains("example.com"),
		Data: smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
			select {
			case <-heard: // the test read the 354
			case <-time.After(10 * time.Second):
				return errors.New("the client never heard 354")
			}
			_, err := io.Copy(io.Discard, r)
			return err
		}),
	}
	addr := smtptest.Start(t, srv)
	c := smtptest.Dial(t, addr)
	c.ReadReply()
	for _, l := range []string{"EHLO client.example.org", "MAIL FROM:<alice@example.org>", "RCPT TO:<bob@example.com>"} {
		if r := c.Cmd(l); r.Code != 250 {
			t.Fatalf("%s: %s", l, r)
		}
	}
	if r := c.Cmd("DATA"); r.Code != 354 {
		t.Fatalf("DATA: %s", r)
	}
	close(heard)
	c.WriteRaw("Subject: x\r\n\r\nx\r\n.\r\n")
	if r, err := c.ReadReply(); err != nil || r.Code != 250 {
		t.Fatalf("message: %v, %v", r, err)
	}
}

// TestHandlerContextLifetime: every handler of a connection gets the same
// context, alive across transactions and cancelled once the connection
// closes.
func TestHandlerContextLifetime(t *testing.T) {
	ctxs := make(chan context.Context, 10)
	srv := &smtpd.Server{
		Hostname: "mx.example.com",
		Connect: smtpd.ConnectFunc(func(ctx context.Context, c *smtpd.Conn) error {
			ctxs <- ctx
			return nil
		}),
		Mail: smtpd.MailFunc(func(ctx context.Context, env *smtpd.Envelope) error {
			ctxs <- ctx
			return ctx.Err() // alive: nil
		}),
		Rcpt: smtpd.AcceptDomains("example.com"),
		Data: smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
			_, err := io.Copy(io.Discard, r)
			return err
		}),
	}
	addr := smtptest.Start(t, srv)
	c := smtptest.Dial(t, addr)
	c.ReadReply()
	c.Cmd("EHLO client.example.org")
	for _, l := range []string{"MAIL FROM:<a@example.org>", "RSET", "MAIL FROM:<a@example.org>"} {
		if r := c.Cmd(l); r.Code != 250 {
			t.Fatalf("%s: %s", l, r)
		}
	}
	first := <-ctxs
	for range 2 {
		if ctx := <-ctxs; ctx != first {
			t.Fatal("the Mail handler got another context than the Connect handler")
		}
	}
	if first.Err() != nil {
		t.Fatalf("context ended while the connection is open: %v", first.Err())
	}
	c.Cmd("QUIT")
	select {
	case <-first.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the handlers' context still alive 10s after QUIT")
	}
}

// TestSeveralListeners: one Server serves two listeners at once with the
// same handlers; Shutdown stops both.
func TestSeveralListeners(t *testing.T) {
	ts := newUnstartedServer(t, nil)
	var served []chan error
	var addrs []string
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ch := make(chan error, 1)
		go func() { ch <- ts.srv.Serve(l) }()
		served, addrs = append(served, ch), append(addrs, l.Addr().String())
	}
	for _, a := range addrs {
		if err := smtptest.Send(a, "alice@example.org", []string{"bob@example.com"}, "Subject: "+a+"\r\n\r\nx\r\n"); err != nil {
			t.Fatalf("through %s: %v", a, err)
		}
	}
	if n := len(ts.messages()); n != 2 {
		t.Fatalf("%d messages stored, want 2", n)
	}
	if err := ts.srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, ch := range served {
		if err := <-ch; !errors.Is(err, smtpd.ErrServerClosed) {
			t.Errorf("Serve of %s = %v, want ErrServerClosed", addrs[i], err)
		}
		if c, err := net.Dial("tcp", addrs[i]); err == nil {
			c.Close()
			t.Errorf("%s still listening after Shutdown", addrs[i])
		}
	}
}

// TestCertificateReload: a TLSConfig whose GetCertificate returns the
// current certificate serves a new one from the next handshake on, without
// a restart.
func TestCertificateReload(t *testing.T) {
	var mu sync.Mutex
	current := testTLSConfig(t).Certificates[0]
	srv := newUnstartedServer(t, nil).srv
	srv.TLSConfig = &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		mu.Lock()
		defer mu.Unlock()
		return &current, nil
	}}
	addr := smtptest.Start(t, srv)
	served := func() []byte {
		t.Helper()
		var got []byte
		cfg := &tls.Config{InsecureSkipVerify: true, VerifyConnection: func(cs tls.ConnectionState) error {
			got = cs.PeerCertificates[0].Raw
			return nil
		}}
		if err := smtptest.Send(addr, "alice@example.org", []string{"bob@example.com"}, "Subject: x\r\n\r\nx\r\n", smtptest.StartTLS(cfg)); err != nil {
			t.Fatal(err)
		}
		return got
	}
	before := served()
	mu.Lock()
	current = testTLSConfig(t).Certificates[0] // as a reload from new files would
	mu.Unlock()
	after := served()
	if string(before) == string(after) || string(after) != string(current.Certificate[0]) {
		t.Fatal("the handshake after the reload did not get the new certificate")
	}
}
