package auth

import (
	"bufio"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/emersion/go-msgauth/authres"

	"github.com/ownmx/ownmx/dnsx"
	"github.com/ownmx/ownmx/dnsx/dnstest"
)

// sealTime is the clock of the test Sealers: before the machine's clock,
// which dkimpy compares t= with (it refuses a t= more than 10 hours ahead).
var sealTime = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

// arcKeyZone adds to testZone the keys that the ARC tests seal with at
// example.org, beside sel (RSA) and ed (Ed25519): keys that cannot be used
// and names that fail.
func arcKeyZone(t testing.TB) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(rsaKey().Public())
	if err != nil {
		t.Fatal(err)
	}
	rsaP := base64.StdEncoding.EncodeToString(der)
	edP := base64.StdEncoding.EncodeToString(edKey().Public().(ed25519.PublicKey))
	rec := func(sel, txt string) string {
		return sel + "._domainkey.example.org. IN TXT " + txtStrings(txt) + "\n"
	}
	return testZone(t) +
		rec("revoked", "v=DKIM1; k=rsa; p=") +
		rec("badp", "v=DKIM1; k=rsa; p=not*base64") +
		rec("badtags", "v=DKIM1; k=rsa; k=ed25519; p="+rsaP) +
		rec("badv", "v=DKIM2; k=rsa; p="+rsaP) +
		rec("twice", "v=DKIM1; k=rsa; p="+rsaP) +
		rec("twice", "v=DKIM1; k=rsa; p="+rsaP+" ") +
		rec("tlsrpt", "v=DKIM1; k=rsa; s=tlsrpt; p="+rsaP) +
		rec("anyservice", "v=DKIM1; k=rsa; s=*; p="+rsaP) +
		rec("sha1only", "v=DKIM1; k=rsa; h=sha1; p="+rsaP) +
		rec("sha256", "v=DKIM1; k=rsa; h=sha1:sha256; p="+rsaP) +
		rec("pkcs1", "v=DKIM1; p="+base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PublicKey(&rsaKey().PublicKey))) +
		rec("edasrsa", "v=DKIM1; k=ed25519; p="+rsaP) +
		rec("typemismatch", "v=DKIM1; k=ed25519; p="+edP) +
		rec("unknownk", "v=DKIM1; k=dsa; p="+rsaP)
}

// newARCChecker starts a dnstest server with arcKeyZone and returns a
// Checker that asks it, and the server.
func newARCChecker(t testing.TB) (*Checker, *dnstest.Server) {
	t.Helper()
	srv := dnstest.NewServer(t, arcKeyZone(t))
	return checkerOn(srv), srv
}

// checkerOn returns a Checker that asks srv, with short timeouts and the
// test clock.
func checkerOn(srv *dnstest.Server) *Checker {
	return &Checker{
		Resolver: &dnsx.Client{Nameserver: srv.Addr, Timeout: time.Second, Attempts: 1},
		Timeout:  5 * time.Second,
		Logger:   slog.New(slog.DiscardHandler),
		Now:      func() time.Time { return testNow },
	}
}

// testSealer returns a Sealer for domain with the key of selector: the
// Ed25519 key for "ed", the RSA key for any other.
func testSealer(domain, selector string) *Sealer {
	var key crypto.Signer = rsaKey()
	if selector == "ed" {
		key = edKey()
	}
	return &Sealer{Domain: domain, Selector: selector, Key: key, AuthServID: "mx." + domain,
		Now: func() time.Time { return sealTime }}
}

// forward returns msg as s forwards it: with the ARC set that c's
// validation of its chain and res make, which must be made.
func forward(t testing.TB, c *Checker, s *Sealer, msg string, res *Results) string {
	t.Helper()
	chain := c.ARC(t.Context(), strings.NewReader(msg))
	set, err := s.Seal(strings.NewReader(msg), res, chain)
	if err != nil {
		t.Fatalf("Seal by %s of a chain that is %+v: %v", s.Domain, chain, err)
	}
	return string(set) + msg
}

// arcTestMessage is a message signed with DKIM by example.com, as a
// forwarder receives it.
func arcTestMessage(t testing.TB) string {
	return sign(t, testMessage("alice@example.com")+
		"A second paragraph,  with  double spaces \t and a tab.\r\n\r\n", "example.com", "sel")
}

// splitMessage returns msg's header fields and body.
func splitMessage(t testing.TB, msg string) ([]headerField, string) {
	t.Helper()
	br := bufio.NewReader(strings.NewReader(msg))
	h, err := readRawHeader(br, DefaultMaxHeaderBytes)
	if err != nil {
		t.Fatal(err)
	}
	return h, readAll(t, br)
}

// joinMessage writes a message of header fields h and body.
func joinMessage(h []headerField, body string) string {
	var b strings.Builder
	for _, f := range h {
		b.WriteString(f.text)
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	return b.String()
}

// arcFieldIndex returns the index in h of the ARC field of kind with
// instance i, or fails the test.
func arcFieldIndex(t testing.TB, h []headerField, kind string, i int) int {
	t.Helper()
	for k, f := range h {
		if arcKind(f.name) != kind {
			continue
		}
		ch := readChain([]headerField{f})
		if ch.fields[0].instance == i {
			return k
		}
	}
	t.Fatalf("no %s with i=%d", kind, i)
	return -1
}

// newestSet returns the ARC set of instance i in msg, whatever the chain's
// structure.
func newestSet(t testing.TB, msg string, i int) arcSet {
	t.Helper()
	h, _ := splitMessage(t, msg)
	ch := readChain(h)
	var s arcSet
	for k := range ch.fields {
		f := &ch.fields[k]
		if f.instance != i {
			continue
		}
		switch f.kind {
		case aarField:
			s.aar = f
		case amsField:
			s.ams = f
		case sealField:
			s.seal = f
		}
	}
	if s.aar == nil || s.ams == nil || s.seal == nil {
		t.Fatalf("no whole ARC set with i=%d in\n%s", i, msg)
	}
	return s
}

// TestARCSealNoChain covers RFC 8617 §5.1 for a message that arrives
// without a chain: the new set is i=1 with cv=none, holds this server's
// results, and Checker.ARC validates it, with either algorithm.
func TestARCSealNoChain(t *testing.T) {
	c, _ := newARCChecker(t)
	msg := arcTestMessage(t)
	res, err := c.Check(t.Context(), SPFResult{Result: Pass, Domain: "example.com", MailFrom: "alice@example.com"}, strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ARC(t.Context(), strings.NewReader(msg)); got != (ARCResult{Result: None}) {
		t.Fatalf("ARC of a message without ARC fields = %+v, want none", got)
	}
	for _, sel := range []string{"sel", "ed"} {
		t.Run(sel, func(t *testing.T) {
			sealed := forward(t, c, testSealer("example.org", sel), msg, res)
			if !strings.HasSuffix(sealed, msg) {
				t.Fatal("Seal changed the message")
			}
			set := strings.TrimSuffix(sealed, msg)
			h, body := splitMessage(t, set+"\r\n")
			if body != "" || len(h) != 3 || h[0].name != sealField || h[1].name != amsField || h[2].name != aarField {
				t.Fatalf("Seal returned %d fields, want ARC-Seal, ARC-Message-Signature, ARC-Authentication-Results:\n%s", len(h), set)
			}
			for _, line := range strings.SplitAfter(strings.TrimSuffix(set, "\r\n"), "\r\n") {
				if len(strings.TrimSuffix(line, "\r\n")) > 78 {
					t.Errorf("line longer than 78 characters (RFC 5322 §2.1.1): %q", line)
				}
			}
			s := newestSet(t, sealed, 1)
			if cv := s.seal.tags["cv"]; cv != "none" {
				t.Errorf("cv=%s, want none", cv)
			}
			if got := c.ARC(t.Context(), strings.NewReader(sealed)); got != (ARCResult{Result: Pass, Instance: 1}) {
				t.Errorf("ARC of the sealed message = %+v, want pass at i=1", got)
			}
		})
	}
}

// TestARCAuthenticationResults checks the ARC-Authentication-Results that
// Seal writes (RFC 8617 §4.1.1): i=, then an Authentication-Results
// payload (RFC 8601) with this server's results and arc=, which a parser
// reads back.
func TestARCAuthenticationResults(t *testing.T) {
	c, _ := newARCChecker(t)
	msg := arcTestMessage(t)
	res, err := c.Check(t.Context(), SPFResult{Result: Pass, Domain: "example.com", MailFrom: "alice@example.com"}, strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	hop1 := forward(t, c, testSealer("example.net", "sel"), msg, nil)
	for _, tc := range []struct {
		name  string
		msg   string
		res   *Results
		chain ARCResult
		want  map[string]authres.ResultValue // method: result
	}{
		{"results, no chain", msg, res, ARCResult{Result: None},
			map[string]authres.ResultValue{"spf": "pass", "dkim": "pass", "dmarc": "pass", "arc": "none"}},
		{"no results, no chain", msg, nil, ARCResult{Result: None}, map[string]authres.ResultValue{"arc": "none"}},
		{"trusted client", msg, &Results{Trusted: true}, ARCResult{Result: None}, map[string]authres.ResultValue{"arc": "none"}},
		{"chain passes", hop1, res, ARCResult{Result: Pass, Instance: 1},
			map[string]authres.ResultValue{"spf": "pass", "dkim": "pass", "dmarc": "pass", "arc": "pass"}},
		{"chain fails, reason in a comment", hop1, nil, ARCResult{Result: Fail, Instance: 1, Reason: "body (changed); \"quoted\""},
			map[string]authres.ResultValue{"arc": "fail"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, err := testSealer("example.org", "sel").Seal(strings.NewReader(tc.msg), tc.res, tc.chain)
			if err != nil {
				t.Fatal(err)
			}
			h, _ := splitMessage(t, string(set)+"\r\n")
			_, value, _ := strings.Cut(h[2].text, ":")
			n, ok := aarInstance(value)
			if want := tc.chain.Instance + 1; !ok || n != want {
				t.Fatalf("AAR instance %d (%v), want %d: %q", n, ok, want, h[2].text)
			}
			payload := value[strings.IndexByte(value, ';')+1:]
			id, results, err := authres.Parse(strings.ReplaceAll(payload, "\r\n", ""))
			if err != nil {
				t.Fatalf("the AAR payload does not parse as RFC 8601: %v\n%s", err, h[2].text)
			}
			if id != "mx.example.org" {
				t.Errorf("authserv-id %q, want mx.example.org", id)
			}
			got := make(map[string]authres.ResultValue)
			for _, r := range results {
				switch r := r.(type) {
				case *authres.SPFResult:
					got["spf"] = r.Value
				case *authres.DKIMResult:
					got["dkim"] = r.Value
				case *authres.DMARCResult:
					got["dmarc"] = r.Value
				case *authres.ARCResult:
					got["arc"] = r.Value
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("AAR results %v, want %v\n%s", got, tc.want, h[2].text)
			}
			for m, v := range tc.want {
				if got[m] != v {
					t.Errorf("AAR %s=%s, want %s\n%s", m, got[m], v, h[2].text)
				}
			}
			if tc.chain.Result == Fail && !strings.Contains(h[2].text, "arc=fail (body changed quoted)") {
				t.Errorf("AAR without the reason in a clean comment:\n%s", h[2].text)
			}
		})
	}
}

// TestARCChainOfOurs covers RFC 8617 §5.1 and §5.2 over several hops of
// our own: each seal says cv=pass and covers the sets before it, and
// DKIM, which the seals add only header fields to, still passes (RFC 8617
// §4.1: ARC does not change the message).
func TestARCChainOfOurs(t *testing.T) {
	c, _ := newARCChecker(t)
	msg := arcTestMessage(t)
	hops := []*Sealer{testSealer("example.net", "sel"), testSealer("example.org", "ed"), testSealer("example.com", "sel")}
	for i, s := range hops {
		msg = forward(t, c, s, msg, nil)
		got := c.ARC(t.Context(), strings.NewReader(msg))
		if got != (ARCResult{Result: Pass, Instance: i + 1}) {
			t.Fatalf("after hop %d: ARC = %+v, want pass at i=%d", i+1, got, i+1)
		}
		if cv, want := newestSet(t, msg, i+1).seal.tags["cv"], map[bool]string{true: "none", false: "pass"}[i == 0]; cv != want {
			t.Errorf("hop %d: cv=%s, want %s", i+1, cv, want)
		}
	}
	dk, err := c.DKIM(t.Context(), strings.NewReader(msg))
	if err != nil || len(dk) != 1 || dk[0].Result != Pass || dk[0].Domain != "example.com" {
		t.Fatalf("DKIM of the sealed message = %+v, %v; want one pass for example.com", dk, err)
	}
	res, err := c.Check(t.Context(), SPFResult{Result: Fail, Domain: "example.net"}, strings.NewReader(msg))
	if err != nil || res.DMARC.Result != Pass || res.Verdict() != Deliver {
		t.Fatalf("Check of the sealed message = %+v, %v; want dmarc=pass, deliver", res, err)
	}
}

// TestARCFiftySets covers RFC 8617 §4.2.1: a chain may have 50 sets, and
// no more: the 50th validates, and Seal refuses a 51st.
func TestARCFiftySets(t *testing.T) {
	c, _ := newARCChecker(t)
	msg := testMessage("alice@example.com")
	s := testSealer("example.org", "ed") // the faster key for 50 seals
	for range maxInstance {
		msg = forward(t, c, s, msg, nil)
	}
	chain := c.ARC(t.Context(), strings.NewReader(msg))
	if chain != (ARCResult{Result: Pass, Instance: 50}) {
		t.Fatalf("ARC of 50 sets = %+v, want pass at i=50", chain)
	}
	_, err := s.Seal(strings.NewReader(msg), nil, chain)
	if !errors.Is(err, ErrARCChainEnded) {
		t.Fatalf("Seal of a 51st set: %v, want ErrARCChainEnded", err)
	}
}

// TestARCSealRefuses covers the chain results for which Seal makes no
// set: the caller forwards the message as it is.
func TestARCSealRefuses(t *testing.T) {
	c, _ := newARCChecker(t)
	msg := arcTestMessage(t)
	hop1 := forward(t, c, testSealer("example.net", "sel"), msg, nil)
	ended := forward(t, c, testSealer("example.org", "sel"), hop1, nil) // a valid chain...
	ended = forward(t, c, testSealer("example.org", "sel"),
		strings.Replace(ended, "noon?", "one?", 1), nil) // ...broken, then sealed with cv=fail
	if got := c.ARC(t.Context(), strings.NewReader(ended)); got.Result != Fail || got.Instance != 3 {
		t.Fatalf("ARC of a chain whose last seal says cv=fail = %+v, want fail at i=3", got)
	}
	for _, tc := range []struct {
		name  string
		msg   string
		chain ARCResult
		want  error
	}{
		{"RFC 8617 §5.1: the last seal says cv=fail", ended, ARCResult{Result: Fail, Instance: 3, Reason: "ARC-Seal i=3 says cv=fail"}, ErrARCChainEnded},
		{"temperror", hop1, ARCResult{Result: TempError, Instance: 1, Reason: "key lookup failed temporarily"}, ErrARCChainTempError},
		{"none for a message with a chain", hop1, ARCResult{Result: None}, ErrARCChainMismatch},
		{"pass for a message without a chain", msg, ARCResult{Result: Pass, Instance: 1}, ErrARCChainMismatch},
		{"fail for a message without a chain", msg, ARCResult{Result: Fail, Instance: 1}, ErrARCChainMismatch},
		{"pass at another instance", hop1, ARCResult{Result: Pass, Instance: 2}, ErrARCChainMismatch},
		{"pass for an invalid chain", strings.Replace(hop1, "ARC-Seal: i=1", "ARC-Seal: i=2", 1), ARCResult{Result: Pass, Instance: 2}, ErrARCChainMismatch},
		{"a result ARC never gives", hop1, ARCResult{Result: SoftFail, Instance: 1}, ErrARCChainMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, err := testSealer("example.com", "sel").Seal(strings.NewReader(tc.msg), nil, tc.chain)
			if !errors.Is(err, tc.want) || set != nil {
				t.Fatalf("Seal = %q, %v; want no set and %v", set, err, tc.want)
			}
		})
	}
}

// TestSealerConfiguration covers the Sealer fields that Seal refuses to
// sign with, each with an error naming the field.
func TestSealerConfiguration(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	msg := arcTestMessage(t)
	for _, tc := range []struct {
		name string
		edit func(*Sealer)
		want string
	}{
		{"no domain", func(s *Sealer) { s.Domain = "" }, "Sealer.Domain"},
		{"domain of one label", func(s *Sealer) { s.Domain = "localhost" }, "Sealer.Domain"},
		{"domain with a space", func(s *Sealer) { s.Domain = "a b.example" }, "Sealer.Domain"},
		{"no selector", func(s *Sealer) { s.Selector = "" }, "Sealer.Selector"},
		{"selector with a semicolon", func(s *Sealer) { s.Selector = "a;b" }, "Sealer.Selector"},
		{"no key", func(s *Sealer) { s.Key = nil }, "Sealer.Key"},
		{"ECDSA key", func(s *Sealer) { s.Key = ec }, "Sealer.Key"},
		{"no authserv-id", func(s *Sealer) { s.AuthServID = "" }, "Sealer.AuthServID"},
		{"authserv-id that ends the field", func(s *Sealer) { s.AuthServID = "mx.example.org; dkim=pass" }, "Sealer.AuthServID"},
		{"authserv-id with a comment", func(s *Sealer) { s.AuthServID = "mx(x)" }, "Sealer.AuthServID"},
		{"authserv-id not in ASCII", func(s *Sealer) { s.AuthServID = "mx.bücher.example" }, "Sealer.AuthServID"},
		{"authserv-id with a space", func(s *Sealer) { s.AuthServID = "mx example" }, "Sealer.AuthServID"},
		{"Headers without From", func(s *Sealer) { s.Headers = []string{"Subject", "To"} }, "lacks From"},
		{"Headers with Authentication-Results", func(s *Sealer) { s.Headers = []string{"From", "authentication-results"} }, "must not be signed"},
		{"Headers with ARC-Seal", func(s *Sealer) { s.Headers = []string{"From", "ARC-Seal"} }, "must not be signed"},
		{"Headers with ARC-Message-Signature", func(s *Sealer) { s.Headers = []string{"From", "arc-message-signature"} }, "must not be signed"},
		{"Headers with ARC-Authentication-Results", func(s *Sealer) { s.Headers = []string{"From", "ARC-Authentication-Results"} }, "must not be signed"},
		{"Headers with a name that has a colon", func(s *Sealer) { s.Headers = []string{"From", "To:Cc"} }, "not a header field name"},
		{"Headers with an empty name", func(s *Sealer) { s.Headers = []string{"From", ""} }, "not a header field name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testSealer("example.org", "sel")
			tc.edit(s)
			set, err := s.Seal(strings.NewReader(msg), nil, ARCResult{Result: None})
			if err == nil || !strings.Contains(err.Error(), tc.want) || set != nil {
				t.Fatalf("Seal = %q, %v; want an error about %s", set, err, tc.want)
			}
		})
	}
}

// TestARCShortRSAKey covers RFC 8301 §3.2: an RSA key under 1024 bits
// signs nothing and verifies nothing, even where the crypto library would
// allow it (GODEBUG rsa1024min=0, set for this test).
func TestARCShortRSAKey(t *testing.T) {
	t.Setenv("GODEBUG", "rsa1024min=0")
	short, err := rsa.GenerateKey(rand.Reader, 512)
	if err != nil {
		t.Fatal(err)
	}
	srv := dnstest.NewServer(t, arcKeyZone(t)+"short._domainkey.example.org. IN TXT "+keyRecord(t, short)+"\n")
	c := checkerOn(srv)
	msg := arcTestMessage(t)
	s := testSealer("example.org", "short")
	s.Key = short
	if _, err := s.Seal(strings.NewReader(msg), nil, ARCResult{Result: None}); err == nil || !strings.Contains(err.Error(), "512 bits") {
		t.Fatalf("Seal with a 512-bit key: %v, want an error", err)
	}
	// A set made with it all the same.
	sg := &sealConfig{domain: "example.org", selector: "short", alg: "rsa-sha256", key: short, headers: DefaultARCHeaders}
	set, err := s.seal(sg, strings.NewReader(msg), nil, ARCResult{Result: None})
	if err != nil {
		t.Fatal(err)
	}
	got := c.ARC(t.Context(), strings.NewReader(string(set)+msg))
	if got.Result != Fail || !strings.Contains(got.Reason, "RSA key of 512 bits") {
		t.Fatalf("ARC of a set signed with a 512-bit key = %+v, want fail for the key's size", got)
	}
}

// TestARCStopped covers the checks that cannot finish: a context that
// ends, Checker.Timeout, a reader that fails. The chain is temperror,
// neither trusted nor condemned, and Seal makes no set for it.
func TestARCStopped(t *testing.T) {
	c, _ := newARCChecker(t)
	sealed := forward(t, c, testSealer("example.org", "sel"), arcTestMessage(t), nil)
	headerLen := strings.Index(sealed, "\r\n\r\n") + 4
	readErr := errors.New("disk on fire")
	for _, tc := range []struct {
		name   string
		msg    func(cancel func()) io.Reader
		reason string
	}{
		{"context ended before", func(cancel func()) io.Reader { cancel(); return strings.NewReader(sealed) }, "check stopped: canceled"},
		{"context ended in the header", func(cancel func()) io.Reader {
			return &cancelingReader{r: iotest.OneByteReader(strings.NewReader(sealed)), at: 100, cancel: cancel}
		}, "check stopped: canceled"},
		{"context ended in the body", func(cancel func()) io.Reader {
			return &cancelingReader{r: iotest.OneByteReader(strings.NewReader(sealed)), at: int64(headerLen) + 10, cancel: cancel}
		}, "check stopped: canceled"},
		{"read error in the header", func(func()) io.Reader {
			return io.MultiReader(strings.NewReader(sealed[:100]), iotest.ErrReader(readErr))
		}, "reading the message failed"},
		{"read error in the body", func(func()) io.Reader {
			return io.MultiReader(strings.NewReader(sealed[:headerLen+10]), iotest.ErrReader(readErr))
		}, "reading the message failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			got := c.ARC(ctx, tc.msg(cancel))
			if got.Result != TempError || got.Reason != tc.reason {
				t.Fatalf("ARC = %+v, want temperror for %q", got, tc.reason)
			}
			if _, err := testSealer("example.net", "sel").Seal(strings.NewReader(sealed), nil, got); !errors.Is(err, ErrARCChainTempError) {
				t.Fatalf("Seal of a temperror chain: %v", err)
			}
		})
	}
	t.Run("Timeout", func(t *testing.T) {
		// The key lookup returns once the check's time is up.
		c := *c
		c.Timeout = 50 * time.Millisecond
		c.Resolver = hookResolver{Resolver: c.Resolver, hook: func(ctx context.Context, name string) { <-ctx.Done() }}
		if got := c.ARC(t.Context(), strings.NewReader(sealed)); got != (ARCResult{Result: TempError, Instance: 1, Reason: "check stopped: time is up"}) {
			t.Fatalf("ARC = %+v, want temperror, time is up", got)
		}
	})
	t.Run("Seal's read error", func(t *testing.T) {
		_, err := testSealer("example.net", "sel").Seal(io.MultiReader(strings.NewReader(sealed[:headerLen+10]), iotest.ErrReader(readErr)), nil, ARCResult{Result: Pass, Instance: 1})
		if !errors.Is(err, readErr) {
			t.Fatalf("Seal = %v, want the reader's error", err)
		}
	})
}

// TestARCHeaderLimits covers headers that cannot be read: larger than
// MaxHeaderBytes, or malformed. The chain cannot be judged: fail, and
// Seal, which cannot read them either, says why.
func TestARCHeaderLimits(t *testing.T) {
	c, _ := newARCChecker(t)
	sealed := forward(t, c, testSealer("example.org", "sel"), arcTestMessage(t), nil)
	big := "X-Big: " + strings.Repeat("x", 2000) + "\r\n" + sealed
	for _, tc := range []struct {
		name   string
		msg    string
		limit  int
		reason string
		err    error
	}{
		{"header over the limit", big, 1000, "header larger than 1000 bytes", ErrHeaderTooLarge},
		{"header over the default limit", "X-Big: " + strings.Repeat("x", DefaultMaxHeaderBytes) + "\r\n" + sealed, 0, "header larger than 262144 bytes", ErrHeaderTooLarge},
		{"malformed header", "not a field\r\n" + sealed, 0, "malformed header", ErrMalformedHeader},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := *c
			c.MaxHeaderBytes = tc.limit
			if got := c.ARC(t.Context(), strings.NewReader(tc.msg)); got != (ARCResult{Result: Fail, Reason: tc.reason}) {
				t.Fatalf("ARC = %+v, want fail for %q", got, tc.reason)
			}
			s := testSealer("example.net", "sel")
			s.MaxHeaderBytes = tc.limit
			if _, err := s.Seal(strings.NewReader(tc.msg), nil, ARCResult{Result: Fail, Reason: tc.reason}); !errors.Is(err, tc.err) {
				t.Fatalf("Seal = %v, want %v", err, tc.err)
			}
		})
	}
	t.Run("limits raised", func(t *testing.T) {
		c := *c
		c.MaxHeaderBytes = 4000
		if got := c.ARC(t.Context(), strings.NewReader(big)); got != (ARCResult{Result: Pass, Instance: 1}) {
			t.Fatalf("ARC with MaxHeaderBytes 4000 = %+v, want pass", got)
		}
		s := testSealer("example.net", "sel")
		s.MaxHeaderBytes = 4000
		if _, err := s.Seal(strings.NewReader(big), nil, ARCResult{Result: Pass, Instance: 1}); err != nil {
			t.Fatal(err)
		}
	})
}
