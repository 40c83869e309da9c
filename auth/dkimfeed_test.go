package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/ownmx/ownmx/dnsx"
)

var (
	trailingWSP = regexp.MustCompile("[ \t]+([\r\n]|$)")
	wspRun      = regexp.MustCompile("[ \t]+")
)

// refCanonicalBody canonicalizes a whole body at once by RFC 6376 §3.4.3
// (simple) and §3.4.4 (relaxed), the plain way, with the dkim package's
// readings of what the RFC leaves open: a lone LF is taken for CRLF, and
// under relaxed a lone CR ends white space as CRLF does and goes with the
// empty lines at the end of the body.
func refCanonicalBody(canon dkim.Canonicalization, body string) string {
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		if body[i] == '\n' && (i == 0 || body[i-1] != '\r') {
			b.WriteByte('\r')
		}
		b.WriteByte(body[i])
	}
	s := b.String()
	if canon == dkim.CanonicalizationSimple {
		// "converts '*CRLF' at the end of the body to a single 'CRLF'"
		for strings.HasSuffix(s, "\r\n") {
			s = strings.TrimSuffix(s, "\r\n")
		}
		return s + "\r\n"
	}
	// "Ignore all whitespace at the end of lines"; "Reduce all sequences
	// of WSP within a line to a single SP"; "Ignore all empty lines at
	// the end of the message body"; a CRLF ends a body that is not empty.
	s = trailingWSP.ReplaceAllString(s, "$1")
	s = wspRun.ReplaceAllString(s, " ")
	s = strings.TrimRight(s, "\r\n")
	if s == "" {
		return ""
	}
	return s + "\r\n"
}

// TestRefCanonicalBody checks the reference against the examples of RFC
// 6376 §3.4.5 and a few of the readings it spells out.
func TestRefCanonicalBody(t *testing.T) {
	const body = " C \r\nD \t E\r\n\r\n\r\n"
	for _, tc := range []struct {
		canon      dkim.Canonicalization
		body, want string
	}{
		{dkim.CanonicalizationRelaxed, body, " C\r\nD E\r\n"},
		{dkim.CanonicalizationSimple, body, " C \r\nD \t E\r\n"},
		{dkim.CanonicalizationSimple, "", "\r\n"},
		{dkim.CanonicalizationRelaxed, "", ""},
		{dkim.CanonicalizationRelaxed, " \t\r\n\n\r", ""},
		{dkim.CanonicalizationSimple, "a\n\n", "a\r\n"},
		{dkim.CanonicalizationSimple, "a\r", "a\r\r\n"},
		{dkim.CanonicalizationRelaxed, "a \rb", "a\rb\r\n"},
	} {
		if got := refCanonicalBody(tc.canon, tc.body); got != tc.want {
			t.Errorf("%s %q: %q, want %q", tc.canon, tc.body, got, tc.want)
		}
	}
}

// bodyPieces are what the random bodies are made of.
var bodyPieces = []string{"\r\n", " ", "\t", "a", "\r", "\n"}

// randomBody returns a body of up to 60 pieces, some of them repeated up
// to 5000 times in a row, for runs longer than a read.
func randomBody(rnd *rand.Rand) string {
	var b strings.Builder
	for range rnd.IntN(61) {
		p := bodyPieces[rnd.IntN(len(bodyPieces))]
		n := 1
		if rnd.IntN(8) == 0 {
			n = 1 + rnd.IntN(5000)
		}
		b.WriteString(strings.Repeat(p, n))
	}
	return b.String()
}

// choppyReader returns what r has in reads of 1 to max bytes, at random.
type choppyReader struct {
	r   io.Reader
	rnd *rand.Rand
	max int
}

func (c *choppyReader) Read(p []byte) (int, error) {
	return c.r.Read(p[:min(len(p), 1+c.rnd.IntN(c.max))])
}

var bhTag = regexp.MustCompile(`bh=([^;]+);`)

// checkBody signs msg, whose body is body, with canon for the body, checks
// that the dkim package's body hash is the reference's, and that DKIM
// passes the signature when it reads msg in random pieces.
func checkBody(t *testing.T, c *Checker, rnd *rand.Rand, msg, body string, canon dkim.Canonicalization) {
	t.Helper()
	signed := sign(t, msg, "example.com", "ed", func(o *dkim.SignOptions) { o.BodyCanonicalization = canon })
	m := bhTag.FindStringSubmatch(signed)
	if m == nil {
		t.Fatalf("no bh= in %q", signed)
	}
	sum := sha256.Sum256([]byte(refCanonicalBody(canon, body)))
	if want := base64.StdEncoding.EncodeToString(sum[:]); stripSpace(m[1]) != want {
		t.Fatalf("%s body %q: dkim's bh=%s, the reference's %s", canon, body, stripSpace(m[1]), want)
	}
	// Reads as short as a byte, but not for all of a long body.
	r := &choppyReader{r: strings.NewReader(signed), rnd: rnd, max: []int{1, 7, 300, 100000}[rnd.IntN(4)]}
	r.max = max(r.max, len(body)/1000)
	got, err := c.DKIM(t.Context(), r)
	if err != nil || len(got) != 1 || got[0].Result != Pass {
		t.Fatalf("%s body %q read %d bytes at a time: %+v, %v; want pass", canon, body, r.max, got, err)
	}
}

// cachedChecker is newChecker with a cache in front of its DNS server, for
// tests that check many messages, and a Timeout long enough for hashing
// megabytes under the race detector on a busy machine: Timeout bounds the
// hashing too.
func cachedChecker(t testing.TB) *Checker {
	c, _ := newChecker(t)
	c.Resolver = dnsx.NewCache(c.Resolver.(dnsx.Querier), 0)
	c.Timeout = time.Minute
	return c
}

// TestDKIMBodyDifferential checks random bodies made of CRLF, SP, HTAB,
// "a", CR and LF, for both body canonicalizations: dkim's body hash is the
// reference canonicalization's, and DKIM, which cuts the body its own way
// before dkim canonicalizes it, passes the signature whatever the reads.
func TestDKIMBodyDifferential(t *testing.T) {
	c := cachedChecker(t)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		body := randomBody(rnd)
		if i < 4 { // and the bodies the attack is made of
			body = []string{"", strings.Repeat("\r\n", 40000), "a" + strings.Repeat("\n", 70000) + "b", strings.Repeat(" \r", 40000)}[i]
		}
		msg := testMessage("alice@example.com")
		msg = msg[:strings.Index(msg, "\r\n\r\n")+4] + body
		for _, canon := range []dkim.Canonicalization{dkim.CanonicalizationSimple, dkim.CanonicalizationRelaxed} {
			checkBody(t, c, rnd, msg, body, canon)
		}
	}
}

// FuzzDKIMBody is TestDKIMBodyDifferential for the fuzzer: each byte of
// data is a piece, repeated 1000 times when its high bits say so.
func FuzzDKIMBody(f *testing.F) {
	f.Add([]byte{0, 1, 3, 0, 0}, uint64(1))
	f.Add([]byte{0xff, 0x3, 0xfa, 4, 5}, uint64(2))
	f.Add([]byte{3, 4, 4, 0xfc, 1, 5, 2}, uint64(3))
	c := cachedChecker(f)
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		var b strings.Builder
		for _, d := range data {
			n := 1
			if d >= 0xf0 {
				n = 1000
			}
			b.WriteString(strings.Repeat(bodyPieces[int(d)%len(bodyPieces)], n))
		}
		msg := testMessage("alice@example.com")
		msg = msg[:strings.Index(msg, "\r\n\r\n")+4] + b.String()
		rnd := rand.New(rand.NewPCG(seed, seed))
		for _, canon := range []dkim.Canonicalization{dkim.CanonicalizationSimple, dkim.CanonicalizationRelaxed} {
			checkBody(t, c, rnd, msg, b.String(), canon)
		}
	})
}

// libraryResults checks msg with the dkim package alone, as DKIM did
// before it fed the body itself: one result per signature, for comparison.
func libraryResults(t *testing.T, c *Checker, msg string) []DKIMResult {
	t.Helper()
	verifs, err := dkim.VerifyWithOptions(strings.NewReader(msg), &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			txt, err := c.resolver().LookupTXT(t.Context(), name)
			return txt, normalize(name, err)
		},
		MaxVerifications: c.maxSignatures(),
	})
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		t.Fatalf("dkim: %v", err)
	}
	var out []DKIMResult
	for _, v := range verifs {
		d := DKIMResult{Result: Pass, Domain: v.Domain, Identifier: v.Identifier, Err: v.Err}
		switch {
		case v.Err == nil:
		case dkim.IsTempFail(v.Err):
			d.Result = TempError
		case dkim.IsPermFail(v.Err):
			d.Result = PermError
		default:
			d.Result = Fail
		}
		out = append(out, d)
	}
	return out
}

// TestDKIMSeveralSignatures checks messages with one to four signatures,
// some of them broken by a later change, some with l=, some covering
// DKIM-Signature fields, once, or more often than there are (RFC 6376
// §5.4), against the dkim package checking them all together: DKIM, which
// checks each signature on its own with the DKIM-Signature fields above
// it left out, gives the same results.
func TestDKIMSeveralSignatures(t *testing.T) {
	c := cachedChecker(t)
	rnd := rand.New(rand.NewPCG(3, 4))
	canons := []dkim.Canonicalization{dkim.CanonicalizationSimple, dkim.CanonicalizationRelaxed}
	withLength := regexp.MustCompile(`(?i)^(DKIM-Signature:)`)
	for i := range 200 {
		msg := testMessage("alice@example.com") + randomBody(rnd)
		for range 1 + rnd.IntN(4) {
			hkeys := [][]string{nil, {"From", "Subject", "DKIM-Signature"}, {"From", "DKIM-Signature", "DKIM-Signature"}}[rnd.IntN(3)]
			domain := []string{"example.com", "mail.example.com", "example.org"}[rnd.IntN(3)]
			msg = sign(t, msg, domain, []string{"ed", "sel", "nokey"}[rnd.IntN(3)], func(o *dkim.SignOptions) {
				o.HeaderCanonicalization = canons[rnd.IntN(2)]
				o.BodyCanonicalization = canons[rnd.IntN(2)]
				o.HeaderKeys = hkeys
			})
			switch rnd.IntN(5) {
			case 0: // a later change to the body
				msg += "a later line\r\n"
			case 1: // l=, which dkim refuses
				msg = withLength.ReplaceAllString(msg, "${1} l=3;")
			}
		}
		c.MaxSignatures = 1 + rnd.IntN(4)
		want := libraryResults(t, c, msg)
		got, err := c.DKIM(t.Context(), &choppyReader{r: strings.NewReader(msg), rnd: rnd, max: 5000})
		if err != nil || len(got) != len(want) {
			t.Fatalf("message %d: DKIM = %+v, %v; dkim alone %+v", i, got, err, want)
		}
		for k := range want {
			g, w := got[k], want[k]
			if g.Result != w.Result || g.Domain != w.Domain || g.Identifier != w.Identifier ||
				(w.Err == nil) != (g.Err == nil) || w.Err != nil && !strings.HasSuffix(g.Err.Error(), w.Err.Error()) {
				t.Fatalf("message %d, signature %d: DKIM %+v, dkim alone %+v\n%s", i, k, g, w, msg)
			}
		}
	}
}

// TestDKIMBodyWorkIsLinear checks the work of hashing bodies that cost
// go-msgauth's simple canonicalization time in the square of their size
// (runs of empty lines at the end, inside, alone, as lone LFs, CRs, lines
// of white space, one long line, l=), with one signature and three, by
// the bytes allocated, which that cost was made of: at most a few per
// byte of body and signature. Before, 1 MiB of empty lines made 256 per
// byte.
func TestDKIMBodyWorkIsLinear(t *testing.T) {
	const size = 1 << 20
	c := cachedChecker(t)
	bodies := append(benchBodies[:len(benchBodies):len(benchBodies)],
		benchBody{"lone-LFs", func(size int) string { return "a" + strings.Repeat("\n", size) + "b" }},
		benchBody{"empty-lines-and-text", func(size int) string {
			return strings.Repeat("text\r\n"+strings.Repeat("\r\n", 1000), size/2006)
		}},
		benchBody{"CR-CRLF", func(size int) string { return strings.Repeat("\r\r\n", size/3) }},
		benchBody{"l=", nil})
	for _, canon := range []dkim.Canonicalization{dkim.CanonicalizationSimple, dkim.CanonicalizationRelaxed} {
		for _, kind := range bodies {
			for _, sigs := range []int{1, 3} {
				t.Run(fmt.Sprintf("%s/%s/sigs=%d", canon, kind.name, sigs), func(t *testing.T) {
					var msg, body string
					want := Fail
					if kind.make == nil {
						body = strings.Repeat("\r\n", size/2)
						msg, _ = signBody(t, testMessage("alice@example.com")+body, body, canon, sigs)
						msg = regexp.MustCompile("(?m)^DKIM-Signature:").ReplaceAllString(msg, "DKIM-Signature: l=3;")
					} else {
						body = kind.make(size)
						msg, want = signBody(t, testMessage("alice@example.com")+body, body, canon, sigs)
					}
					var before, after runtime.MemStats
					runtime.ReadMemStats(&before)
					res, err := c.DKIM(t.Context(), strings.NewReader(msg))
					runtime.ReadMemStats(&after)
					if err != nil || len(res) != sigs || res[0].Result != want {
						t.Fatalf("DKIM = %+v, %v; want %d %s", res, err, sigs, want)
					}
					perByte := float64(after.TotalAlloc-before.TotalAlloc) / float64(len(body))
					t.Logf("%.2f bytes allocated per byte of body", perByte)
					if limit := 8 + 24*float64(sigs); perByte > limit {
						t.Errorf("%.1f bytes allocated per byte of body, want at most %.0f", perByte, limit)
					}
				})
			}
		}
	}
}

// repeatReader yields s again and again, without end.
type repeatReader struct {
	s   string
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m := copy(p[n:], r.s[r.off:])
		n += m
		r.off = (r.off + m) % len(r.s)
	}
	return n, nil
}

// cancelingReader reads r and calls cancel once at bytes have been read;
// it counts what is read after.
type cancelingReader struct {
	r        io.Reader
	at       int64
	cancel   func()
	n, after int64
}

func (c *cancelingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.n >= c.at {
		c.after += int64(n)
	}
	c.n += int64(n)
	if c.n >= c.at && c.cancel != nil {
		c.cancel()
		c.cancel = nil
	}
	return n, err
}

// TestDKIMStoppedByContext checks that a check whose context is cancelled
// while the body is hashed returns at once, reading little more of the
// message, with temperror for each signature; and that one whose context
// has ended does not read the message.
func TestDKIMStoppedByContext(t *testing.T) {
	// Cancelled after 2 MiB of body, more than the feeds hold (4 chunks):
	// the key was found and the body is being hashed.
	const bodySize, cancelAt = 8 << 20, 2 << 20
	c := cachedChecker(t)
	for _, canon := range []dkim.Canonicalization{dkim.CanonicalizationSimple, dkim.CanonicalizationRelaxed} {
		for _, body := range []string{"Some body text.\r\n", "\r\n", "a\r\n\r\n\r\n"} {
			for _, sigs := range []int{1, 3} {
				t.Run(fmt.Sprintf("%s/%q/sigs=%d", canon, body, sigs), func(t *testing.T) {
					head := testMessage("alice@example.com")
					head = head[:strings.Index(head, "\r\n\r\n")+4]
					for range sigs {
						head = sign(t, head, "example.com", "ed", func(o *dkim.SignOptions) { o.BodyCanonicalization = canon })
					}
					ctx, cancel := context.WithCancel(t.Context())
					defer cancel()
					r := &cancelingReader{
						r:  io.MultiReader(strings.NewReader(head), io.LimitReader(&repeatReader{s: body}, bodySize)),
						at: int64(len(head) + cancelAt), cancel: cancel,
					}
					got, err := c.DKIM(ctx, r)
					if err != nil || len(got) != sigs {
						t.Fatalf("DKIM = %+v, %v; want %d results", got, err, sigs)
					}
					for _, d := range got {
						if d.Result != TempError || !errors.Is(d.Err, ErrDKIMStopped) || !errors.Is(d.Err, context.Canceled) || d.Domain != "example.com" {
							t.Errorf("result %+v, want temperror for example.com, stopped by cancellation", d)
						}
					}
					if r.after > 4*bodyChunkSize {
						t.Errorf("%d bytes read after the context was cancelled, want at most %d", r.after, 4*bodyChunkSize)
					}
				})
			}
		}
	}

	t.Run("context ended before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		r := &cancelingReader{r: strings.NewReader(sign(t, testMessage("alice@example.com"), "example.com", "ed"))}
		got, err := c.DKIM(ctx, r)
		if err != nil || len(got) != 1 || got[0].Result != TempError || !errors.Is(got[0].Err, ErrDKIMStopped) || r.n != 0 {
			t.Errorf("DKIM = %+v, %v after reading %d bytes; want one temperror, stopped, nothing read", got, err, r.n)
		}
	})
}

// hookResolver calls hook before each TXT lookup, then asks Resolver with
// a context that neither ends nor expires, as a warm cache would answer.
type hookResolver struct {
	dnsx.Resolver
	hook func(ctx context.Context, name string)
}

func (h hookResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	h.hook(ctx, name)
	return h.Resolver.LookupTXT(context.WithoutCancel(ctx), name)
}

// gateReader waits for wait to return before its first read of r.
type gateReader struct {
	r    io.Reader
	wait func()
}

func (g *gateReader) Read(p []byte) (int, error) {
	if g.wait != nil {
		g.wait()
		g.wait = nil
	}
	return g.r.Read(p)
}

// TestDKIMTimeoutBoundsHashing checks that Timeout bounds the hashing of
// the body, not only DNS: the key is found in time, then the body arrives
// after Timeout has passed, and the signature is temperror.
func TestDKIMTimeoutBoundsHashing(t *testing.T) {
	c := cachedChecker(t)
	c.Timeout = 500 * time.Millisecond
	looked := make(chan context.Context, 1)
	c.Resolver = hookResolver{Resolver: c.Resolver, hook: func(ctx context.Context, name string) {
		select {
		case looked <- ctx:
		default:
		}
	}}
	body := strings.Repeat("Some body text.\r\n", 8000)
	msg := sign(t, testMessage("alice@example.com")+body, "example.com", "ed")
	split := len(msg) - len(body) + 100<<10 // the header and 100 KiB of body
	r := io.MultiReader(strings.NewReader(msg[:split]), &gateReader{
		r: strings.NewReader(msg[split:]),
		// The check's context is the one its key lookup was given.
		wait: func() { <-(<-looked).Done() },
	})
	got, err := c.DKIM(t.Context(), r)
	if err != nil || len(got) != 1 {
		t.Fatalf("DKIM = %+v, %v; want one result", got, err)
	}
	if d := got[0]; d.Result != TempError || !errors.Is(d.Err, ErrDKIMStopped) || !errors.Is(d.Err, context.DeadlineExceeded) {
		t.Errorf("result %+v, want temperror, stopped by the deadline", d)
	}
}

// recordingWriter keeps each write.
type recordingWriter struct{ writes []string }

func (w *recordingWriter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

// TestFeedBodyPieces checks feedBody and bodyFeed on random bodies read in
// random pieces, without the dkim package: every write but the last ends
// with a byte other than LF, or with a CR before a CR, so that the simple
// canonicalizer never holds a run of line ends over more than one write;
// and what is written, or read with Read, canonicalizes as the body does,
// both ways.
func TestFeedBodyPieces(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 6))
	for range 300 {
		body := randomBody(rnd)
		body = body[:rnd.IntN(len(body)+1)]
		head := []byte("From: a@example.com\r\n\r\n")
		byWrite, byRead := newBodyFeed(head), newBodyFeed(head)
		done := make(chan string)
		var w recordingWriter
		go func() {
			if _, err := io.ReadFull(byWrite, make([]byte, len(head))); err != nil {
				t.Error(err)
			}
			if _, err := byWrite.WriteTo(&w); err != nil {
				t.Error(err)
			}
			byWrite.finish()
			done <- ""
		}()
		go func() {
			b, err := io.ReadAll(struct{ io.Reader }{byRead}) // Read only
			if err != nil {
				t.Error(err)
			}
			byRead.finish()
			done <- strings.TrimPrefix(string(b), string(head))
		}()
		r := &choppyReader{r: strings.NewReader(body), rnd: rnd, max: max(1+rnd.IntN(100), len(body)/300)}
		if err := feedBody(t.Context(), r, []*bodyFeed{byWrite, byRead}); err != nil {
			t.Fatal(err)
		}
		read := <-done + <-done
		for i, p := range w.writes[:max(len(w.writes)-1, 0)] {
			if p == "" || p[len(p)-1] == '\n' || p[len(p)-1] == '\r' && w.writes[i+1][0] != '\r' {
				t.Fatalf("body %q: write %d of %d is %q: it ends with line ends the canonicalizer holds", body, i, len(w.writes), p)
			}
		}
		for _, canon := range []dkim.Canonicalization{dkim.CanonicalizationSimple, dkim.CanonicalizationRelaxed} {
			want := refCanonicalBody(canon, body)
			if got := refCanonicalBody(canon, strings.Join(w.writes, "")); got != want {
				t.Fatalf("%s body %q: written %q canonicalizes to %q, want %q", canon, body, w.writes, got, want)
			}
			if got := refCanonicalBody(canon, read); got != want {
				t.Fatalf("%s body %q: read %q canonicalizes to %q, want %q", canon, body, read, got, want)
			}
		}
	}
}
