package forward

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/ownmx/ownmx/auth"
	"github.com/ownmx/ownmx/dnsx"
	"github.com/ownmx/ownmx/dnsx/dnstest"
	"github.com/ownmx/ownmx/mtasts"
	"github.com/ownmx/ownmx/queue"
	"github.com/ownmx/ownmx/route"
	"github.com/ownmx/ownmx/send"
	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
	"github.com/ownmx/ownmx/srs"
	"github.com/ownmx/ownmx/store"
)

// The world of the tests, all on loopback:
//
//   - sender.test sends: its MX (127.0.0.3) is a receiver that keeps what
//     it gets, its SPF allows 127.0.0.1, its mail is DKIM-signed with
//     senderKey and its DMARC policy is reject.
//   - fwd.test is the forwarding domain, served by the server under test
//     (the route Mux, the queue, a Forwarder): its SPF allows 127.0.0.0/8
//     and its ARC key is arcKey at ownmx._domainkey.fwd.test.
//   - dest.test is the destination, a real Postfix at 127.0.0.2 with an
//     MTA-STS policy in enforce mode naming mx.dest.test; other
//     destinations are receivers of the test's own (scripted.test).
//
// Every "IP:25" the Sender dials goes to the listener the test put there.

var (
	keysOnce  sync.Once
	senderKey *rsa.PrivateKey // DKIM of sender.test
	arcKey    *rsa.PrivateKey // ARC of fwd.test
)

func keys(t testing.TB) {
	keysOnce.Do(func() {
		var err error
		if senderKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if arcKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
}

// keyRecord is the DKIM key record of key.
func keyRecord(key *rsa.PrivateKey) string {
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		panic(err)
	}
	return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
}

// zoneText quotes a TXT value for the zone, in strings of at most 255 bytes.
func zoneText(s string) string {
	var parts []string
	for len(s) > 200 {
		parts = append(parts, `"`+s[:200]+`"`)
		s = s[200:]
	}
	return strings.Join(append(parts, `"`+s+`"`), " ")
}

// The policy that mta-sts.<domain> serves, by domain.
var policies = map[string]string{
	"dest.test":     "version: STSv1\r\nmode: enforce\r\nmx: mx.dest.test\r\nmax_age: 86400\r\n",
	"badcert.test":  "version: STSv1\r\nmode: enforce\r\nmx: mx.badcert.test\r\nmax_age: 86400\r\n",
	"scripted.test": "version: STSv1\r\nmode: testing\r\nmx: mx.scripted.test\r\nmax_age: 86400\r\n",
}

func zone() string {
	var z strings.Builder
	fmt.Fprintf(&z, `
sender.test. IN MX 10 mx.sender.test.
mx.sender.test. IN A 127.0.0.3
sender.test. IN TXT "v=spf1 ip4:127.0.0.1 -all"
_dmarc.sender.test. IN TXT "v=DMARC1; p=reject"
sel._domainkey.sender.test. IN TXT %s
loose.test. IN TXT "v=spf1 -all"
_dmarc.loose.test. IN TXT "v=DMARC1; p=quarantine"
fwd.test. IN MX 10 mx.fwd.test.
mx.fwd.test. IN A 127.0.0.1
fwd.test. IN TXT "v=spf1 ip4:127.0.0.0/8 -all"
ownmx._domainkey.fwd.test. IN TXT %s
dest.test. IN MX 10 mx.dest.test.
mx.dest.test. IN A 127.0.0.2
_mta-sts.dest.test. IN TXT "v=STSv1; id=1"
mta-sts.dest.test. IN A 127.0.0.1
badcert.test. IN MX 10 mx.badcert.test.
mx.badcert.test. IN A 127.0.0.5
_mta-sts.badcert.test. IN TXT "v=STSv1; id=1"
mta-sts.badcert.test. IN A 127.0.0.1
scripted.test. IN MX 10 mx.scripted.test.
mx.scripted.test. IN A 127.0.0.4
`, zoneText(keyRecord(senderKey)), zoneText(keyRecord(arcKey)))
	return z.String()
}

// world is one test's loopback internet and forwarding server.
type world struct {
	t        *testing.T
	dns      *dnstest.Server
	resolver dnsx.Resolver
	roots    *x509.CertPool // trusts every certificate the test made
	logs     *syncBuffer

	mu    sync.Mutex
	ports map[string]string // "IP:25" -> a listener's address

	sender  *send.Sender
	rewrite *srs.Rewriter
	fwd     *Forwarder
	mux     *route.Mux
	q       *queue.Queue
	boxes   *store.Mailboxes
	addr    string // the forwarding server
}

// newWorld makes the world; opts change the queue's options.
func newWorld(t *testing.T, opts ...func(*queue.Options)) *world {
	keys(t)
	w := &world{t: t, roots: x509.NewCertPool(), logs: &syncBuffer{}, ports: map[string]string{}}
	w.dns = dnstest.NewServer(t, zone())
	w.resolver = dnsx.NewResolver(w.dns.Addr)
	log := slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the log:\n%s", w.logs.String())
		}
	})

	// MTA-STS policies, over HTTPS for mta-sts.<domain>.
	stsServer, _ := w.tlsConfig("mta-sts.dest.test", "mta-sts.badcert.test", "mta-sts.scripted.test")
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		domain := strings.TrimPrefix(r.Host, "mta-sts.")
		p, ok := policies[domain]
		if !ok || r.URL.Path != "/.well-known/mta-sts.txt" {
			http.NotFound(rw, r)
			return
		}
		rw.Header().Set("Content-Type", "text/plain")
		io.WriteString(rw, p)
	}))
	hs.TLS = stsServer
	hs.StartTLS()
	t.Cleanup(hs.Close)
	fetcher := &mtasts.Fetcher{Resolver: w.resolver, Client: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, hs.Listener.Addr().String())
		},
		TLSClientConfig: &tls.Config{RootCAs: w.roots},
	}}}
	t.Cleanup(fetcher.Client.CloseIdleConnections)

	w.sender = &send.Sender{
		Hostname:    "mx.fwd.test",
		Resolver:    w.resolver,
		MTASTS:      fetcher,
		TLSConfig:   &tls.Config{RootCAs: w.roots},
		DialContext: w.dial,
		Logger:      log,
	}
	w.rewrite = &srs.Rewriter{Domain: "fwd.test", Secrets: [][]byte{[]byte("a secret of the tests, 32 bytes!")}}
	checker := &auth.Checker{Resolver: w.resolver, Logger: log}
	w.fwd = &Forwarder{
		Sender:   w.sender,
		SRS:      w.rewrite,
		Sealer:   &auth.Sealer{Domain: "fwd.test", Selector: "ownmx", Key: arcKey, AuthServID: "mx.fwd.test"},
		Checker:  checker,
		Hostname: "mx.fwd.test",
		Domains:  []string{"fwd.test"},
		Logger:   log,
	}
	w.mux = route.NewMux()
	if err := w.fwd.HandleBounces(w.mux); err != nil {
		t.Fatal(err)
	}
	w.boxes = &store.Mailboxes{Root: t.TempDir(), Domains: []string{"fwd.test"}}

	var err error
	qopts := &queue.Options{MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Logger: log}
	for _, o := range opts {
		o(qopts)
	}
	w.q, err = queue.Open(t.TempDir(), qopts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.q.Run(ctx, w.mux) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("queue: %v", err)
		}
		w.q.Close()
	})
	w.addr = smtptest.Start(t, &smtpd.Server{
		Hostname: "mx.fwd.test",
		Mail:     checker.MailHandler(nil),
		Rcpt:     smtpd.AcceptDomains("fwd.test").Then(w.mux),
		Data:     smtpd.Chain(w.mux.Handler(w.q), checker.Middleware("mx.fwd.test")),
		Logger:   log,
	})
	return w
}

// dial is the Sender's DialContext: "IP:25" goes where the test put it.
func (w *world) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	w.mu.Lock()
	to, ok := w.ports[addr]
	w.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("test: nothing listens at %s", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, to)
}

// listen puts the listener at addr where the Sender finds ip's port 25.
func (w *world) listen(ip, addr string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ports[net.JoinHostPort(ip, "25")] = addr
}

// tlsConfig makes a certificate for each host, trusted by w.roots, and
// returns the server configuration of the first host's certificate and
// its PEM files.
func (w *world) tlsConfig(hosts ...string) (*tls.Config, [2]string) {
	var server *tls.Config
	var files [2]string
	for i, h := range hosts {
		srv, _ := smtptest.TLSConfigs(w.t, h)
		leaf := srv.Certificates[0].Leaf
		w.roots.AddCert(leaf)
		if i == 0 {
			server = srv.Clone()
			dir := w.t.TempDir()
			files = [2]string{filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")}
			key, err := x509.MarshalPKCS8PrivateKey(srv.Certificates[0].PrivateKey)
			if err != nil {
				w.t.Fatal(err)
			}
			writeFile(w.t, files[0], pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}))
			writeFile(w.t, files[1], pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}))
		} else {
			server.Certificates = append(server.Certificates, srv.Certificates[0])
		}
	}
	return server, files
}

func writeFile(t testing.TB, path string, data []byte) {
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// message is a message from alice@<domain> with the subject, signed with
// senderKey for sender.test when sign is set, lines ending in CRLF.
func message(t testing.TB, from, subject string, sign bool, extra ...string) string {
	msg := "From: Alice <" + from + ">\r\n" +
		"To: me@fwd.test\r\n" +
		"Subject: " + subject + "\r\n" +
		"Date: Mon, 30 Nov 2026 12:00:00 +0000\r\n" +
		"Message-ID: <" + strings.ReplaceAll(subject, " ", "-") + "@sender.test>\r\n" +
		strings.Join(extra, "") +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"\r\n" +
		"Hello,\r\n\r\nthis is " + subject + ".\r\n"
	if !sign {
		return msg
	}
	return signed(t, msg)
}

// signed returns msg signed with senderKey for sender.test.
func signed(t testing.TB, msg string) string {
	var b bytes.Buffer
	err := dkim.Sign(&b, strings.NewReader(msg), &dkim.SignOptions{
		Domain: "sender.test", Selector: "sel", Signer: crypto.Signer(senderKey),
		HeaderKeys: []string{"From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// send sends msg to the forwarding server from 127.0.0.1, as sender.test's
// outgoing server would.
func (w *world) send(from string, to []string, msg string) error {
	return smtptest.Send(w.addr, from, to, msg, smtptest.Helo("out.sender.test"))
}

// receiver is an SMTP server of the test that keeps the messages it
// accepts, or answers what reply says.
type receiver struct {
	mu    sync.Mutex
	got   []received
	tries int
	reply func(try int) error // nil: accept
	seen  chan struct{}
}

type received struct {
	from string
	rcpt []string
	tls  bool
	body string
}

// startReceiver starts a receiver for the MX host at ip.
func (w *world) startReceiver(ip string, tlsConfig *tls.Config, reply func(try int) error) *receiver {
	r := &receiver{reply: reply, seen: make(chan struct{}, 100)}
	addr := smtptest.Start(w.t, &smtpd.Server{
		Hostname:  "mx.receiver.test",
		TLSConfig: tlsConfig,
		Rcpt:      smtpd.AcceptDomains("sender.test", "scripted.test", "badcert.test"),
		Data: smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, rd io.Reader) error {
			b, err := io.ReadAll(rd)
			if err != nil {
				return err
			}
			r.mu.Lock()
			r.tries++
			try := r.tries
			r.mu.Unlock()
			defer func() { r.seen <- struct{}{} }()
			if r.reply != nil {
				if err := r.reply(try); err != nil {
					return err
				}
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			r.got = append(r.got, received{env.From, append([]string(nil), env.Rcpt...), env.Conn.TLS != nil, string(b)})
			return nil
		}),
		Logger: slog.New(slog.DiscardHandler),
	})
	w.listen(ip, addr)
	return r
}

// wait waits for the receiver's n-th message (accepted or refused).
func (r *receiver) wait(t testing.TB, n int) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		r.mu.Lock()
		tries := r.tries
		r.mu.Unlock()
		if tries >= n {
			return
		}
		select {
		case <-r.seen:
		case <-timeout:
			t.Fatalf("receiver: %d messages after 30 s, want %d", tries, n)
		}
	}
}

func (r *receiver) messages() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// eventually polls cond every 10 ms until it holds, for up to 30 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 30 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dead waits for the queue's dead letter and returns its reasons.
func (w *world) dead(t testing.TB) []string {
	t.Helper()
	var reasons []string
	eventually(t, "a dead letter", func() bool {
		dead, err := w.q.Admin().Dead()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range dead {
			for _, d := range m.Deliveries {
				if d.State == queue.Dead {
					reasons = append(reasons, d.Error)
				}
			}
		}
		return len(dead) > 0
	})
	return reasons
}

// syncBuffer is a bytes.Buffer for concurrent writers: the log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
