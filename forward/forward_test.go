package forward

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	gomessage "github.com/emersion/go-message"
	"github.com/ownmx/ownmx/auth"
	"github.com/ownmx/ownmx/internal/dkimpy"
	"github.com/ownmx/ownmx/internal/postfixtest"
	"github.com/ownmx/ownmx/queue"
	"github.com/ownmx/ownmx/route"
	"github.com/ownmx/ownmx/smtpd"
)

// destination starts the Postfix of dest.test at 127.0.0.2, with me@ and
// you@ as its users and a certificate for mx.dest.test.
func (w *world) destination(t *testing.T) *postfixtest.Instance {
	_, files := w.tlsConfig("mx.dest.test")
	pf := postfixtest.Start(t, postfixtest.Options{
		Domains:  []string{"dest.test"},
		Users:    []string{"me@dest.test", "you@dest.test"},
		CertFile: files[0],
		KeyFile:  files[1],
		IP:       netip.MustParseAddr("127.0.0.2"),
	})
	w.listen("127.0.0.2", pf.Addr)
	return pf
}

// splitHeader returns the names of msg's header fields, in order, and
// where its header ends.
func fieldNames(t *testing.T, header string) []string {
	var names []string
	for _, line := range strings.Split(header, "\n") {
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		name, _, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("header line %q has no colon", line)
		}
		names = append(names, name)
	}
	return names
}

// TestForwardToPostfix forwards a DKIM-signed message from a sender with
// DMARC p=reject to a real Postfix whose domain publishes an MTA-STS
// policy in enforce mode: the message arrives over verified TLS, byte for
// byte as sent below the fields added on top; its Return-Path is an SRS
// address of fwd.test that SPF passes for the forwarder and that reverses
// to the original sender; dkimpy's arcverify says the ARC chain passes and
// its dkimverify that the author's signature still verifies.
func TestForwardToPostfix(t *testing.T) {
	w := newWorld(t)
	pf := w.destination(t)
	w.mux.Handle("me@fwd.test", w.fwd.To("me@dest.test"))

	msg := message(t, "alice@sender.test", "forwarded mail", true)
	if err := w.send("alice@sender.test", []string{"me@fwd.test"}, msg); err != nil {
		t.Fatal(err)
	}
	got := pf.Wait(t, "me@dest.test", 1)[0]
	t.Logf("as delivered by Postfix:\n%s", got)

	// Maildir files end lines in LF.
	sent := strings.ReplaceAll(msg, "\r\n", "\n")
	if !bytes.HasSuffix(got, []byte(sent)) {
		t.Fatalf("the message as sent is not the end of the message delivered")
	}
	added := fieldNames(t, string(got[:len(got)-len(sent)]))
	want := []string{
		"Return-Path", "X-Original-To", "Delivered-To", "Received", // Postfix's
		"ARC-Seal", "ARC-Message-Signature", "ARC-Authentication-Results", "Delivered-To", // the forward's
		"Authentication-Results", "Received", // fwd.test's, on receipt
	}
	if strings.Join(added, ",") != strings.Join(want, ",") {
		t.Errorf("added fields %q, want %q", added, want)
	}

	// TLS, verified for mx.dest.test under the policy: Postfix logs it.
	if log := pf.Log(); !regexp.MustCompile(`Trusted TLS connection established|TLS connection established from`).MatchString(log) {
		t.Errorf("Postfix's log shows no TLS connection:\n%s", log)
	}

	// The Return-Path: an SRS address of fwd.test, which reverses to alice.
	m := regexp.MustCompile(`(?m)^Return-Path: <([^>]*)>$`).FindSubmatch(got)
	if m == nil {
		t.Fatal("no Return-Path")
	}
	returnPath := string(m[1])
	if !strings.HasPrefix(returnPath, "SRS0=") || !strings.HasSuffix(returnPath, "@fwd.test") {
		t.Errorf("Return-Path %q, want an SRS0 address at fwd.test", returnPath)
	}
	if orig, err := w.rewrite.Reverse(returnPath); err != nil || orig != "alice@sender.test" {
		t.Errorf("Reverse(%q) = %q, %v; want alice@sender.test", returnPath, orig, err)
	}

	// SPF at the destination: Postfix's Received names the client's IP.
	ipm := regexp.MustCompile(`(?m)^Received: from \S+ \([^\[]*\[([0-9.]+)\]\)`).FindSubmatch(got)
	if ipm == nil {
		t.Fatal("Postfix's Received names no client address")
	}
	checker := &auth.Checker{Resolver: w.resolver}
	if spf := checker.SPF(context.Background(), netip.MustParseAddr(string(ipm[1])), "mx.fwd.test", returnPath); spf.Result != auth.Pass {
		t.Errorf("SPF at the destination for %s from %s: %v, want pass", returnPath, ipm[1], spf.Result)
	}

	if out := dkimpy.Verify(t, "arcverify", w.dns.Addr, got); !dkimpy.ARCPass(out) {
		t.Errorf("arcverify: %s", out)
	} else {
		t.Logf("arcverify: %s", out)
	}
	if out := dkimpy.Verify(t, "dkimverify", w.dns.Addr, got); out != "signature ok" {
		t.Errorf("dkimverify: %s", out)
	}
}

// TestForwardExistingChain forwards a message that arrives with an ARC
// set already, made by dkimpy's arcsign (a mailing list at sender.test):
// the new set is i=2 with cv=pass, and arcverify passes the chain of two
// at the destination.
func TestForwardExistingChain(t *testing.T) {
	w := newWorld(t)
	pf := w.destination(t)
	w.mux.Handle("me@fwd.test", w.fwd.To("me@dest.test"))

	keyFile := filepath.Join(t.TempDir(), "list.pem")
	writeFile(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(senderKey)}))
	listed := "Authentication-Results: lists.sender.test; spf=pass smtp.mailfrom=alice@sender.test\r\n" +
		message(t, "alice@sender.test", "through a list", true)
	cmd := exec.Command("/usr/bin/python3", "/usr/bin/arcsign", "sel", "sender.test", keyFile, "lists.sender.test")
	cmd.Stdin = strings.NewReader(listed)
	signed, err := cmd.Output()
	if err != nil || !bytes.HasPrefix(signed, []byte("ARC-Seal: i=1;")) {
		t.Fatalf("arcsign (Debian python3-dkim and python3-authres, which .ci/run installs): %v\n%s", err, signed)
	}

	if err := w.send("alice@sender.test", []string{"me@fwd.test"}, string(signed)); err != nil {
		t.Fatal(err)
	}
	got := pf.Wait(t, "me@dest.test", 1)[0]
	if !regexp.MustCompile(`(?m)^ARC-Seal: i=2; a=rsa-sha256; t=\d+; cv=pass; d=fwd\.test; s=ownmx;`).Match(got) {
		t.Errorf("no ARC-Seal i=2 cv=pass for fwd.test:\n%s", got)
	}
	if out := dkimpy.Verify(t, "arcverify", w.dns.Addr, got); !dkimpy.ARCPass(out) {
		t.Errorf("arcverify: %s", out)
	}
}

// TestForwardRetries: a destination that answers 451 twice, then 250,
// gets the message once, on the third try.
func TestForwardRetries(t *testing.T) {
	w := newWorld(t)
	r := w.startReceiver("127.0.0.4", nil, func(try int) error {
		if try <= 2 {
			return &smtpd.Error{Code: 451, Enhanced: smtpd.EnhancedCode{4, 3, 0}, Message: "try again later"}
		}
		return nil
	})
	w.mux.Handle("me@fwd.test", w.fwd.To("me@scripted.test"))
	if err := w.send("alice@sender.test", []string{"me@fwd.test"}, message(t, "alice@sender.test", "retried", true)); err != nil {
		t.Fatal(err)
	}
	r.wait(t, 3)
	eventually(t, "the queue empty", func() bool {
		waiting, err := w.q.Admin().List()
		return err == nil && len(waiting) == 0
	})
	if got := r.messages(); len(got) != 1 || got[0].rcpt[0] != "me@scripted.test" {
		t.Fatalf("delivered %d times, want once: %+v", len(got), got)
	}
	if dead, _ := w.q.Admin().Dead(); len(dead) != 0 {
		t.Errorf("dead letters: %+v", dead)
	}
}

// TestForwardBounce: Postfix refuses the recipient (550 5.1.1): the
// delivery is dead, and a DSN goes from the null sender to the original
// sender's MX, a multipart/report that says which address failed, how,
// and for which address it was forwarded.
func TestForwardBounce(t *testing.T) {
	w := newWorld(t)
	w.destination(t)
	home := w.startReceiver("127.0.0.3", nil, nil) // mx.sender.test
	w.mux.Handle("me@fwd.test", w.fwd.To("nobody@dest.test"))
	if err := w.send("alice@sender.test", []string{"me@fwd.test"}, message(t, "alice@sender.test", "refused", true)); err != nil {
		t.Fatal(err)
	}
	home.wait(t, 1)
	dsn := home.messages()[0]
	if dsn.from != "" || len(dsn.rcpt) != 1 || dsn.rcpt[0] != "alice@sender.test" {
		t.Fatalf("DSN from %q to %q, want from <> to alice@sender.test", dsn.from, dsn.rcpt)
	}
	fields := reportFields(t, dsn.body)
	for k, v := range map[string]string{
		"Action":             "failed",
		"Status":             "5.1.1",
		"Final-Recipient":    "rfc822; nobody@dest.test",
		"Original-Recipient": "rfc822; me@fwd.test",
		"Remote-Mta":         "dns; mx.dest.test",
		"Reporting-Mta":      "dns; mx.fwd.test",
	} {
		if got := fields[strings.ToLower(k)]; !strings.EqualFold(got, v) {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if d := fields["diagnostic-code"]; !strings.HasPrefix(d, "smtp; 550") {
		t.Errorf("Diagnostic-Code %q, want Postfix's 550", d)
	}
	if reasons := w.dead(t); len(reasons) != 1 || !strings.Contains(reasons[0], "550") {
		t.Errorf("dead letter reasons %q", reasons)
	}
}

// TestForwardExpires: a destination that answers 451 until the queue's
// lifetime for the message ends gets it never; on the last try the sender
// gets a DSN with 4.4.7 that names the destination's last reply.
func TestForwardExpires(t *testing.T) {
	w := newWorld(t, func(o *queue.Options) { o.Lifetime = 300 * time.Millisecond })
	dest := w.startReceiver("127.0.0.4", nil, func(int) error {
		return &smtpd.Error{Code: 451, Enhanced: smtpd.EnhancedCode{4, 2, 2}, Message: "mailbox full, try later"}
	})
	home := w.startReceiver("127.0.0.3", nil, nil)
	w.mux.Handle("me@fwd.test", w.fwd.To("me@scripted.test"))
	if err := w.send("alice@sender.test", []string{"me@fwd.test"}, message(t, "alice@sender.test", "never delivered", true)); err != nil {
		t.Fatal(err)
	}
	home.wait(t, 1)
	fields := reportFields(t, home.messages()[0].body)
	if fields["status"] != "4.4.7" || fields["action"] != "failed" || !strings.Contains(fields["diagnostic-code"], "451 4.2.2") {
		t.Errorf("DSN fields %q, want Status 4.4.7, Action failed and the 451", fields)
	}
	if reasons := w.dead(t); len(reasons) != 1 {
		t.Errorf("dead letter reasons %q", reasons)
	}
	if n := len(dest.messages()); n != 0 {
		t.Errorf("delivered %d", n)
	}
}

// TestForwardNoBounce: a failed forward of a message from the null
// sender, or of a message that is itself a bounce (a multipart/report of
// delivery status), makes no DSN: the delivery is dead and the sender's MX
// gets nothing.
func TestForwardNoBounce(t *testing.T) {
	dsnHeader := "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n"
	for _, tc := range []struct{ name, from, extra, log string }{
		{"null sender", "", "", "no bounce to the null sender"},
		{"a bounce", "alice@sender.test", dsnHeader, "no bounce for a bounce"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.startReceiver("127.0.0.4", nil, func(int) error {
				return &smtpd.Error{Code: 550, Enhanced: smtpd.EnhancedCode{5, 1, 1}, Message: "no such user"}
			})
			home := w.startReceiver("127.0.0.3", nil, nil)
			w.mux.Handle("me@fwd.test", w.fwd.To("me@scripted.test"))
			msg := message(t, "alice@sender.test", "no bounce", false)
			if tc.extra != "" {
				msg = strings.Replace(msg, "Content-Type: text/plain; charset=utf-8\r\n", tc.extra, 1)
			}
			msg = signed(t, msg)
			if err := w.send(tc.from, []string{"me@fwd.test"}, msg); err != nil {
				t.Fatal(err)
			}
			if reasons := w.dead(t); len(reasons) != 1 || !strings.Contains(reasons[0], "550") {
				t.Errorf("dead letter reasons %q", reasons)
			}
			// A DSN would have been sent before the delivery went dead.
			if got := home.messages(); len(got) != 0 {
				t.Errorf("the sender's MX got %d messages: %+v", len(got), got)
			}
			if !strings.Contains(w.logs.String(), tc.log) {
				t.Errorf("the log does not say %q", tc.log)
			}
		})
	}
}

// reportFields parses a DSN with go-message and returns the fields of its
// message/delivery-status part, per-message and per-recipient together,
// by their names in lower case.
func reportFields(t *testing.T, dsn string) map[string]string {
	t.Helper()
	e, err := gomessage.Read(strings.NewReader(dsn))
	if err != nil {
		t.Fatalf("DSN: %v\n%s", err, dsn)
	}
	mt, params, _ := e.Header.ContentType()
	if mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("DSN Content-Type %s %v, want multipart/report; report-type=delivery-status", mt, params)
	}
	mr := e.MultipartReader()
	fields := map[string]string{}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if pt, _, _ := p.Header.ContentType(); pt != "message/delivery-status" {
			continue
		}
		sc := bufio.NewScanner(p.Body)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok {
				fields[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
			}
		}
	}
	if len(fields) == 0 {
		t.Fatalf("DSN without a message/delivery-status part:\n%s", dsn)
	}
	return fields
}

// TestForwardMTASTSBadCertificate: badcert.test's policy is in enforce
// mode and its MX host's certificate names another host: nothing is sent,
// the delivery waits for a retry, and the log says why.
func TestForwardMTASTSBadCertificate(t *testing.T) {
	w := newWorld(t)
	wrong, _ := w.tlsConfig("wrong.test")
	r := w.startReceiver("127.0.0.5", wrong, nil)
	w.mux.Handle("me@fwd.test", w.fwd.To("me@badcert.test"))
	if err := w.send("alice@sender.test", []string{"me@fwd.test"}, message(t, "alice@sender.test", "not over bad TLS", true)); err != nil {
		t.Fatal(err)
	}
	var info string
	eventually(t, "two failed tries", func() bool {
		waiting, err := w.q.Admin().List()
		if err != nil || len(waiting) != 1 {
			return false
		}
		d := waiting[0].Deliveries[0]
		info = d.Error
		return d.Tries >= 2
	})
	if !strings.Contains(info, "certificate") {
		t.Errorf("the delivery's last error %q does not say the certificate failed", info)
	}
	if !strings.Contains(w.logs.String(), "certificate") {
		t.Errorf("the log does not say why")
	}
	if got := r.messages(); len(got) != 0 {
		t.Errorf("sent %d messages despite the policy", len(got))
	}
}

// TestSRSBounceReturns: a bounce to the SRS address of a forwarded message
// is accepted and goes on to the original sender; a forged or mangled SRS
// address is refused at RCPT with 550 5.1.1.
func TestSRSBounceReturns(t *testing.T) {
	w := newWorld(t)
	home := w.startReceiver("127.0.0.3", nil, nil)
	good, err := w.rewrite.Forward("alice@sender.test")
	if err != nil {
		t.Fatal(err)
	}
	bounce := "From: MAILER-DAEMON@mx.dest.test\r\nTo: " + good + "\r\nSubject: Undelivered Mail Returned to Sender\r\n\r\nIt bounced.\r\n"
	if err := w.send("", []string{good}, bounce); err != nil {
		t.Fatalf("bounce to %s: %v", good, err)
	}
	home.wait(t, 1)
	got := home.messages()[0]
	if got.from != "" || got.rcpt[0] != "alice@sender.test" || !strings.HasSuffix(got.body, bounce) {
		t.Errorf("returned from %q to %q:\n%s", got.from, got.rcpt, got.body)
	}

	hash := good[len("SRS0=") : len("SRS0=")+4]
	for _, forged := range []string{
		strings.Replace(good, hash, "AAAA", 1),
		strings.Replace(good, "alice", "mallory", 1),
		strings.Replace(good, "sender.test", "victim.test", 1),
		"SRS0=xxxx=AA=sender.test=alice@fwd.test",
		"SRS0=@fwd.test",
		"SRS1=abcd=other.test==x=y=z=w@fwd.test",
	} {
		err := w.send("", []string{forged}, bounce)
		var e *smtpd.Error
		if !errors.As(err, &e) || e.Code != 550 || e.Enhanced != (smtpd.EnhancedCode{5, 1, 1}) {
			t.Errorf("bounce to %s: %v, want 550 5.1.1", forged, err)
		}
	}
}

// TestForwardLoop: a message that was delivered to me@fwd.test before
// (its Delivered-To) or that has gone through more than 50 hosts is not
// sent again; its sender gets a DSN with 5.4.6.
func TestForwardLoop(t *testing.T) {
	for _, tc := range []struct{ name, extra string }{
		{"Delivered-To", "Delivered-To: ME@fwd.test\r\n"},
		{"Received", strings.Repeat("Received: from a by b; Mon, 30 Nov 2026 11:00:00 +0000\r\n", 50)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			dest := w.startReceiver("127.0.0.4", nil, nil)
			home := w.startReceiver("127.0.0.3", nil, nil)
			w.mux.Handle("me@fwd.test", w.fwd.To("me@scripted.test"))
			if err := w.send("alice@sender.test", []string{"me@fwd.test"}, tc.extra+message(t, "alice@sender.test", "a loop", true)); err != nil {
				t.Fatal(err)
			}
			home.wait(t, 1)
			if s := reportFields(t, home.messages()[0].body)["status"]; s != "5.4.6" {
				t.Errorf("DSN Status %q, want 5.4.6", s)
			}
			if reasons := w.dead(t); len(reasons) != 1 || !strings.Contains(reasons[0], "loop") {
				t.Errorf("dead letter reasons %q", reasons)
			}
			if n := len(dest.messages()); n != 0 {
				t.Errorf("the looping message was sent %d times", n)
			}
		})
	}
}

// TestForwardQuarantine: a message that the sender's DMARC policy puts in
// quarantine (loose.test: p=quarantine, SPF -all, no signature) is not
// forwarded: with a Store beside the forward it is in Junk and nothing
// else happens; alone, the forward declines it as a dead letter saying
// why; with Quarantined set, it is forwarded.
func TestForwardQuarantine(t *testing.T) {
	msg := message(t, "bob@loose.test", "quarantined", false)
	t.Run("stored", func(t *testing.T) {
		w := newWorld(t)
		dest := w.startReceiver("127.0.0.4", nil, nil)
		w.mux.Handle("me@fwd.test", route.Store(w.boxes), w.fwd.To("me@scripted.test"))
		if err := w.send("bob@loose.test", []string{"me@fwd.test"}, msg); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the message in Junk", func() bool {
			return len(maildirFiles(t, w.boxes.Root+"/fwd.test/me/.Junk/new")) == 1
		})
		eventually(t, "the queue empty", func() bool {
			waiting, err := w.q.Admin().List()
			return err == nil && len(waiting) == 0
		})
		if dead, _ := w.q.Admin().Dead(); len(dead) != 0 || len(dest.messages()) != 0 {
			t.Errorf("dead letters %+v, forwarded %d", dead, len(dest.messages()))
		}
	})
	t.Run("declined", func(t *testing.T) {
		w := newWorld(t)
		dest := w.startReceiver("127.0.0.4", nil, nil)
		w.mux.Handle("me@fwd.test", w.fwd.To("me@scripted.test"))
		if err := w.send("bob@loose.test", []string{"me@fwd.test"}, msg); err != nil {
			t.Fatal(err)
		}
		if reasons := w.dead(t); len(reasons) != 1 || !strings.Contains(reasons[0], "quarantined") {
			t.Errorf("dead letter reasons %q", reasons)
		}
		if n := len(dest.messages()); n != 0 {
			t.Errorf("forwarded %d", n)
		}
	})
	t.Run("forwarded on request", func(t *testing.T) {
		w := newWorld(t)
		dest := w.startReceiver("127.0.0.4", nil, nil)
		target := w.fwd.To("me@scripted.test")
		target.Quarantined = true
		w.mux.Handle("me@fwd.test", target)
		if err := w.send("bob@loose.test", []string{"me@fwd.test"}, msg); err != nil {
			t.Fatal(err)
		}
		dest.wait(t, 1)
	})
}

// TestForwardToOwnDomain: a forward to another address of the server's
// own domain is delivered there, without SMTP.
func TestForwardToOwnDomain(t *testing.T) {
	w := newWorld(t)
	w.mux.Handle("me@fwd.test", w.fwd.To("other@FWD.test"))
	w.mux.Handle("other@fwd.test", route.Store(w.boxes))
	if err := w.send("alice@sender.test", []string{"me@fwd.test"}, message(t, "alice@sender.test", "kept here", true)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the message in other's Maildir", func() bool {
		return len(maildirFiles(t, w.boxes.Root+"/fwd.test/other/new")) == 1
	})
	if strings.Contains(w.logs.String(), "send:") {
		t.Errorf("the Sender was used:\n%s", w.logs.String())
	}
}

// maildirFiles lists the files of dir, none when it does not exist.
func maildirFiles(t *testing.T, dir string) []os.DirEntry {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return entries
}
