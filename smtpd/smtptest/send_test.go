package smtptest_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// received is what the server saw of one message.
type received struct {
	helo, remote string
	tls          bool
	rcpt         []string
	msg          string
}

// recorder starts a server for example.com that refuses nobody@ and
// records what it receives.
func recorder(t *testing.T, tlsConfig *tls.Config) (string, func() []received) {
	var mu sync.Mutex
	var got []received
	addr := smtptest.Start(t, &smtpd.Server{
		Hostname:  "mx.example.com",
		TLSConfig: tlsConfig,
		Rcpt: smtpd.AcceptDomains("example.com").Then(smtpd.RcptFunc(func(ctx context.Context, env *smtpd.Envelope, to string) error {
			if strings.HasPrefix(to, "nobody@") {
				return smtpd.ErrNoSuchUser
			}
			return nil
		})),
		Data: smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
			b, err := io.ReadAll(r)
			mu.Lock()
			got = append(got, received{env.Conn.Helo, env.Conn.RemoteAddr.Addr().String(), env.Conn.TLS != nil, env.Rcpt, string(b)})
			mu.Unlock()
			return err
		}),
	})
	return addr, func() []received {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

func TestSendOptions(t *testing.T) {
	for _, pipelined := range []bool{false, true} {
		name := map[bool]string{false: "serial", true: "pipelined"}[pipelined]
		mode := []smtptest.Option{}
		if pipelined {
			mode = append(mode, smtptest.Pipelining())
		}
		t.Run(name, func(t *testing.T) {
			server, client := smtptest.TLSConfigs(t, "mx.example.com")
			addr, got := recorder(t, server)
			opts := append(slices.Clone(mode),
				smtptest.Helo("mta.sender.example"),
				smtptest.LocalAddr(netip.MustParseAddr("127.0.0.2")),
				smtptest.StartTLS(client))
			msg := "Subject: opts\n\n.leading dot\nbody\n"
			if err := smtptest.Send(addr, "alice@example.org", []string{"bob@example.com"}, msg, opts...); err != nil {
				t.Fatal(err)
			}
			r := got()[0]
			if r.helo != "mta.sender.example" || r.remote != "127.0.0.2" || !r.tls {
				t.Errorf("server saw HELO %q from %s, TLS %v; want mta.sender.example from 127.0.0.2 over TLS", r.helo, r.remote, r.tls)
			}
			if !strings.HasSuffix(r.msg, "\r\nSubject: opts\r\n\r\n.leading dot\r\nbody\r\n") {
				t.Errorf("message arrived as %q", r.msg)
			}

			// One recipient refused: the others get the message, and the
			// refusal comes back as an *smtpd.Error.
			err := smtptest.Send(addr, "alice@example.org", []string{"nobody@example.com", "carol@example.com"}, "Subject: x\n\nx\n", mode...)
			var e *smtpd.Error
			if !errors.As(err, &e) || e.Code != 550 || e.Enhanced != (smtpd.EnhancedCode{5, 1, 1}) || !strings.Contains(e.Message, "No such user") {
				t.Fatalf("Send with a refused recipient = %#v, want 550 5.1.1 No such user", err)
			}
			if r := got()[1]; !slices.Equal(r.rcpt, []string{"carol@example.com"}) {
				t.Errorf("message went to %v, want the accepted recipient only", r.rcpt)
			}
			// Every recipient refused: no message.
			err = smtptest.Send(addr, "alice@example.org", []string{"nobody@example.com"}, "Subject: x\n\nx\n", mode...)
			if !errors.As(err, &e) || e.Code != 550 {
				t.Fatalf("Send to a refused recipient only = %v, want 550", err)
			}
			if n := len(got()); n != 2 {
				t.Errorf("%d messages stored, want 2", n)
			}
		})
	}
}

// TestPipeliningPipelines plays the server by hand and answers nothing
// until MAIL, RCPT and DATA have all arrived: a client that waited for the
// reply to MAIL would never send the rest.
func TestPipeliningPipelines(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan error, 1)
	go func() {
		done <- smtptest.Send(l.Addr().String(), "a@example.org", []string{"b@example.com", "c@example.com"}, "Subject: x\n\nx\n", smtptest.Pipelining())
	}()
	conn, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	io.WriteString(conn, "220 fake ready\r\n")
	br.ReadString('\n') // EHLO
	io.WriteString(conn, "250-fake\r\n250 PIPELINING\r\n")
	var group []string
	for len(group) < 4 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v (the client waited for a reply)", group, err)
		}
		group = append(group, strings.TrimSpace(line))
	}
	if want := []string{"MAIL FROM:<a@example.org>", "RCPT TO:<b@example.com>", "RCPT TO:<c@example.com>", "DATA"}; !slices.Equal(group, want) {
		t.Fatalf("group %q, want %q", group, want)
	}
	io.WriteString(conn, "250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.1.5 ok\r\n354 go\r\n")
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == ".\r\n" {
			break
		}
	}
	io.WriteString(conn, "250 2.0.0 queued\r\n")
	br.ReadString('\n') // QUIT
	io.WriteString(conn, "221 2.0.0 bye\r\n")
	if err := <-done; err != nil {
		t.Fatalf("Send = %v", err)
	}
}
