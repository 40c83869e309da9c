package send_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/ownmx/ownmx/dnsx"
	"github.com/ownmx/ownmx/dnsx/dnstest"
	"github.com/ownmx/ownmx/send"
	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

// testMsg has what a message can hold that SMTP must carry unchanged: a
// line that is a lone dot and lines starting with dots (dot-stuffing,
// RFC 5321 §4.5.2), 8-bit text, trailing spaces, an empty last line.
const testMsg = "From: Alice <alice@origin.test>\r\n" +
	"To: bob@example.test\r\n" +
	"Subject: hello\r\n" +
	"Message-ID: <1@origin.test>\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"Grüße.\r\n" +
	".\r\n" +
	"..two dots\r\n" +
	". a dot and a space  \r\n" +
	"\r\n"

func msgOf(s string) *io.SectionReader {
	return io.NewSectionReader(strings.NewReader(s), 0, int64(len(s)))
}

// zone returns a zone for the .test domains with the given records,
// written relative to "test.".
func zone(records ...string) string {
	return "$ORIGIN test.\n@ 3600 IN SOA ns.test. hostmaster.test. 1 7200 900 1209600 300\n" + strings.Join(records, "\n") + "\n"
}

// world is a test's network: a DNS server, receivers on 127.0.0.x, and a
// dialer that takes port 25 of each address to its receiver's port.
type world struct {
	t     testing.TB
	dns   *dnstest.Server
	mu    sync.Mutex
	ports map[string]string // "127.0.0.2:25" -> "127.0.0.2:41234"
	dials []string          // the "IP:25" addresses dialed, in order
	roots *x509.CertPool    // trusts every receiver's certificate
}

func newWorld(t testing.TB, records ...string) *world {
	t.Helper()
	return &world{t: t, dns: dnstest.NewServer(t, zone(records...)), ports: map[string]string{}, roots: x509.NewCertPool()}
}

// sender returns a Sender that uses the world's DNS and dialer, keeps
// MX hosts of equal preference in the order of the zone, and trusts the
// receivers' certificates.
func (w *world) sender() *send.Sender {
	return &send.Sender{
		Hostname:    "out.origin.test",
		Resolver:    dnsx.NewResolver(w.dns.Addr),
		DialContext: w.dial,
		TLSConfig:   &tls.Config{RootCAs: w.roots},
		Shuffle:     func(int, func(i, j int)) {},
		Logger:      quiet,
	}
}

func (w *world) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	w.mu.Lock()
	w.dials = append(w.dials, addr)
	to, ok := w.ports[addr]
	w.mu.Unlock()
	if !ok {
		w.t.Errorf("dialed %s, which the test did not set up", addr)
		return nil, errors.New("no such test address")
	}
	var d net.Dialer
	return d.DialContext(ctx, network, to)
}

// dialed returns the addresses dialed so far.
func (w *world) dialed() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.dials)
}

// listen listens on a free port of ip and maps ip:25 to it.
func (w *world) listen(ip string) net.Listener {
	w.t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		w.t.Fatal(err)
	}
	w.mu.Lock()
	w.ports[ip+":25"] = l.Addr().String()
	w.mu.Unlock()
	return l
}

// refuse makes connections to ip:25 refused: they go to a port that
// was listened on and closed.
func (w *world) refuse(ip string) {
	w.listen(ip).Close()
}

// serve runs srv on ip:25 until the test ends.
func (w *world) serve(ip string, srv *smtpd.Server) {
	w.t.Helper()
	if srv.Logger == nil {
		srv.Logger = quiet
	}
	l := w.listen(ip)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	w.t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, smtpd.ErrServerClosed) {
			w.t.Errorf("Serve on %s: %v", ip, err)
		}
	})
}

// received is what a receiver saw of one message.
type received struct {
	from     string
	rcpt     []string
	msg      []byte // without the receiver's Received header
	tls      bool
	body     string // BODY= of MAIL FROM
	size     int64  // SIZE= of MAIL FROM
	smtputf8 bool
}

// receiver is an smtpd.Server that keeps the messages it accepts.
type receiver struct {
	*smtpd.Server
	mu  sync.Mutex
	got []received
}

// newReceiver returns a receiver named host that accepts every
// recipient; a test changes its handlers and limits before serving it.
func newReceiver(host string) *receiver {
	r := &receiver{}
	r.Server = &smtpd.Server{
		Hostname: host,
		Rcpt:     smtpd.RcptFunc(func(context.Context, *smtpd.Envelope, string) error { return nil }),
		Data:     smtpd.DataFunc(r.data),
	}
	return r
}

func (r *receiver) data(ctx context.Context, env *smtpd.Envelope, body io.Reader) error {
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, received{
		from: env.From, rcpt: env.Rcpt, msg: withoutTrace(b), tls: env.Conn.TLS != nil,
		body: env.Body, size: env.Size, smtputf8: env.SMTPUTF8,
	})
	return nil
}

// messages returns the messages accepted so far.
func (r *receiver) messages() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// one returns the one message the receiver accepted, failing the test
// when it accepted none or several.
func (r *receiver) one(t *testing.T) received {
	t.Helper()
	got := r.messages()
	if len(got) != 1 {
		t.Fatalf("%s accepted %d messages, want 1", r.Hostname, len(got))
	}
	return got[0]
}

// withoutTrace removes the Received header the receiver put first.
func withoutTrace(b []byte) []byte {
	if !bytes.HasPrefix(b, []byte("Received: ")) {
		return b
	}
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '\r' && b[i+1] == '\n' && b[i+2] != ' ' && b[i+2] != '\t' {
			return b[i+2:]
		}
	}
	return b
}

// tlsReceiver returns a receiver that offers STARTTLS with a
// certificate for certName, which the world's Senders trust.
func (w *world) tlsReceiver(host, certName string) *receiver {
	w.t.Helper()
	r := newReceiver(host)
	server, _ := smtptest.TLSConfigs(w.t, certName)
	w.roots.AddCert(server.Certificates[0].Leaf)
	r.TLSConfig = server
	return r
}

// script serves ip:25 with a hand-written SMTP server: for each
// connection, handle gets a reader and a writer of the connection; the
// connection is closed when it returns. It records every line read.
func (w *world) script(ip string, handle func(r *bufio.Reader, conn net.Conn)) {
	l := w.listen(ip)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				handle(bufio.NewReader(conn), conn)
			})
		}
	})
	w.t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
}

// sendErr asserts that err is an *send.Error and returns it.
func sendErr(t *testing.T, err error) *send.Error {
	t.Helper()
	var e *send.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *send.Error", err, err)
	}
	return e
}

// fakeMTA is a hand-written SMTP server, for what smtpd never does
// (leave out SMTPUTF8, refuse STARTTLS): it offers the EHLO extensions
// it is given, answers the verbs in replies as told and others as a
// server that accepts everything, and notes every line it reads.
type fakeMTA struct {
	mu    sync.Mutex
	lines []string
}

func (w *world) fakeMTA(ip string, extensions []string, replies map[string]string) *fakeMTA {
	f := &fakeMTA{}
	ehlo := "250-mx.example.test"
	for _, ext := range extensions {
		ehlo += "\r\n250-" + ext
	}
	ehlo = ehlo[:strings.LastIndex(ehlo, "250-")] + "250 " + ehlo[strings.LastIndex(ehlo, "250-")+4:]
	w.script(ip, func(r *bufio.Reader, conn net.Conn) {
		io.WriteString(conn, "220 mx.example.test ESMTP\r\n")
		inData := false
		for range 1000 {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			if inData {
				if line == "." {
					inData = false
					io.WriteString(conn, "250 2.0.0 queued\r\n")
				}
				continue
			}
			f.mu.Lock()
			f.lines = append(f.lines, line)
			f.mu.Unlock()
			verb, _, _ := strings.Cut(line, " ")
			verb = strings.ToUpper(verb)
			reply, ok := replies[verb]
			switch {
			case ok:
			case verb == "EHLO":
				reply = ehlo
			case verb == "DATA":
				inData, reply = true, "354 go on"
			case verb == "QUIT":
				io.WriteString(conn, "221 2.0.0 bye\r\n")
				return
			default:
				reply = "250 2.0.0 ok"
			}
			io.WriteString(conn, reply+"\r\n")
		}
	})
	return f
}

// read returns the command lines the server read.
func (f *fakeMTA) read() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.lines)
}
