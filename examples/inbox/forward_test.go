package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ownmx/ownmx/auth"
	"github.com/ownmx/ownmx/dnsx/dnstest"
	"github.com/ownmx/ownmx/internal/dkimpy"
	"github.com/ownmx/ownmx/internal/postfixtest"
	"github.com/ownmx/ownmx/smtpd"
)

// TestForward runs the inbox with -forward, as its documentation says,
// with a -dkim-key that openssl made, to a real Postfix for dest.test: the
// message arrives with an SRS Return-Path at inbox.test and an ARC set
// that dkimpy's arcverify passes, and nothing is kept in a Maildir. A
// bounce sent back to the SRS address reaches the original sender's MX;
// a forged one is refused.
func TestForward(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "arc.pem")
	if out, err := exec.Command("openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", keyFile).CombinedOutput(); err != nil {
		t.Fatalf("openssl genpkey: %v\n%s", err, out)
	}
	pemData, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := auth.ParseSigningKey(pemData)
	if err != nil {
		t.Fatal(err)
	}
	record, err := auth.DKIMKeyRecord(key.Public())
	if err != nil {
		t.Fatal(err)
	}

	pf := postfixtest.Start(t, postfixtest.Options{
		Domains: []string{"dest.test"},
		Users:   []string{"me@dest.test"},
		IP:      netip.MustParseAddr("127.0.0.6"),
	})
	// The original sender's MX, on the port the inbox sends to.
	home := startHome(t, "127.0.0.7:"+strconv.Itoa(pf.Port))

	var txt []string
	for r := record; r != ""; {
		n := min(len(r), 200)
		txt, r = append(txt, `"`+r[:n]+`"`), r[n:]
	}
	dns := dnstest.NewServer(t, testZone()+`
dest.test. 300 MX 10 mx.dest.test.
mx.dest.test. 300 A 127.0.0.6
good.example.org. 300 MX 10 mx.good.example.org.
mx.good.example.org. 300 A 127.0.0.7
inbox.test. 300 TXT "v=spf1 ip4:127.0.0.0/8 -all"
ownmx._domainkey.inbox.test. 300 TXT `+strings.Join(txt, " ")+"\n")

	root := filepath.Join(dir, "mail")
	s := start(t, "-domain", "inbox.test", "-maildir", root, "-dns", dns.Addr, "-check-local",
		"-hostname", "mx.inbox.test", "-forward", "bob=me@dest.test", "-dkim-key", keyFile,
		"-smtp-port", strconv.Itoa(pf.Port), "-retry-min", "100ms", "-retry-max", "200ms")

	msg := message("alice@good.example.org", "forwarded", body)
	if err := send(dial(t, s.addr), "alice@good.example.org", "bob@inbox.test", msg); err != nil {
		t.Fatalf("send: %v", err)
	}
	got := pf.Wait(t, "me@dest.test", 1)[0]
	if !strings.HasSuffix(string(got), strings.ReplaceAll(msg, "\r\n", "\n")) {
		t.Errorf("the message delivered does not end with the message sent:\n%s", got)
	}
	m := regexp.MustCompile(`(?m)^Return-Path: <(SRS0=[^>]*@inbox\.test)>$`).FindSubmatch(got)
	if m == nil {
		t.Fatalf("no SRS Return-Path at inbox.test:\n%s", got)
	}
	srsAddr := string(m[1])
	if out := dkimpy.Verify(t, "arcverify", dns.Addr, got); !dkimpy.ARCPass(out) {
		t.Errorf("arcverify: %s", out)
	}
	if boxes, _ := os.ReadDir(filepath.Join(root, "inbox.test")); len(boxes) != 0 {
		t.Errorf("a forwarded address has a Maildir: %v", boxes)
	}

	// A bounce to the SRS address goes back to alice.
	bounce := "From: MAILER-DAEMON@mx.dest.test\r\nSubject: Undelivered\r\n\r\nIt bounced.\r\n"
	if err := send(dial(t, s.addr), "", srsAddr, bounce); err != nil {
		t.Fatalf("bounce to %s: %v", srsAddr, err)
	}
	returned := home.wait(t)
	if returned.from != "" || returned.rcpt != "alice@good.example.org" || !strings.HasSuffix(returned.body, bounce) {
		t.Errorf("returned from %q to %q:\n%s", returned.from, returned.rcpt, returned.body)
	}
	forged := strings.Replace(srsAddr, "alice", "mallory", 1)
	wantCode(t, "bounce to "+forged, send(dial(t, s.addr), "", forged, bounce), 550, "5.1.1")
}

// home is an SMTP receiver at a fixed address: the MX of a sender.
type home struct {
	got chan homeMessage
}

type homeMessage struct{ from, rcpt, body string }

// startHome serves a receiver at addr until the test ends.
func startHome(t *testing.T, addr string) *home {
	h := &home{got: make(chan homeMessage, 10)}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &smtpd.Server{
		Hostname: "mx.good.example.org",
		Logger:   slog.New(slog.DiscardHandler),
		Rcpt:     smtpd.AcceptDomains("good.example.org"),
		Data: smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
			b, err := io.ReadAll(r)
			if err != nil {
				return err
			}
			h.got <- homeMessage{env.From, strings.Join(env.Rcpt, ","), string(b)}
			return nil
		}),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; err != nil && !errors.Is(err, smtpd.ErrServerClosed) {
			t.Errorf("the sender's MX: %v", err)
		}
	})
	return h
}

// wait returns the next message the receiver accepted.
func (h *home) wait(t *testing.T) homeMessage {
	t.Helper()
	select {
	case m := <-h.got:
		return m
	case <-time.After(30 * time.Second):
		t.Fatal("no message at the sender's MX after 30 s")
		return homeMessage{}
	}
}
