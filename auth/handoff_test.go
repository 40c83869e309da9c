package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net/mail"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
	"github.com/ownmx/ownmx/store"
)

// handedOn is what a Data handler after the middleware saw of one message.
type handedOn struct {
	res        *Results // ResultsFrom
	ok         bool
	input      []byte // what the middleware itself received
	read       []byte // the first read, through r
	reread     bool   // smtpd.Reread(r) worked
	subject    string // parsed from a second read
	stored     []byte // what store.Handler wrote, from a third read
	quarantine bool
	onDisk     bool // the spool had spilled to a file while the handler ran
}

// handoffServer runs a real smtpd.Server on loopback with c's glue and,
// after it, a handler that reads the message three times: once through r,
// once parsed (net/mail) from smtpd.Reread, once stored in a Maildir by
// store.Handler from smtpd.Reread. In front of the glue, a recorder keeps
// what the glue receives. It returns the server's address and what the
// handler saw of each message, in order.
func handoffServer(t *testing.T, c *Checker) (string, func() []handedOn) {
	t.Helper()
	var (
		mu   sync.Mutex
		seen []handedOn
	)
	var input []byte
	record := func(next smtpd.DataHandler) smtpd.DataHandler {
		return smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
			b, err := io.ReadAll(r)
			if err != nil {
				return err
			}
			input = b // one message at a time: Send waits for its reply
			return next.Data(ctx, env, bytes.NewReader(b))
		})
	}
	handler := smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
		h := handedOn{input: input, quarantine: env.Quarantine}
		h.res, h.ok = ResultsFrom(env)
		h.onDisk = spoolOpen(t, c.SpoolDir)
		var err error
		if h.read, err = io.ReadAll(r); err != nil {
			t.Errorf("first read: %v", err)
		}
		parse, ok := smtpd.Reread(r)
		h.reread = ok
		if ok {
			if m, err := mail.ReadMessage(parse); err != nil {
				t.Errorf("parsing the second read: %v", err)
			} else {
				h.subject = m.Header.Get("Subject")
			}
			dir := t.TempDir()
			again, _ := smtpd.Reread(r)
			if err := store.Handler(&store.Maildir{Dir: dir, Hostname: "mx.ownmx.test"}).Data(ctx, env, again); err != nil {
				t.Errorf("store.Handler: %v", err)
			}
			h.stored = storedFile(t, dir)
		}
		mu.Lock()
		seen = append(seen, h)
		mu.Unlock()
		return nil
	})
	addr := smtptest.Start(t, &smtpd.Server{
		Hostname: "mx.ownmx.test",
		Mail:     c.MailHandler(nil),
		Rcpt:     smtpd.AcceptDomains("ownmx.test"),
		Data:     smtpd.Chain(handler, record, c.Middleware("mx.ownmx.test")),
	})
	return addr, func() []handedOn {
		mu.Lock()
		defer mu.Unlock()
		s := seen
		seen = nil
		return s
	}
}

// storedFile returns the one message a Maildir under dir holds, in new/ or
// in the Junk folder's new/.
func storedFile(t *testing.T, dir string) []byte {
	t.Helper()
	var files []string
	for _, d := range []string{filepath.Join(dir, "new"), filepath.Join(dir, store.Junk, "new")} {
		m, _ := filepath.Glob(filepath.Join(d, "*"))
		files = append(files, m...)
	}
	if len(files) != 1 {
		t.Errorf("Maildir holds %d messages, want 1", len(files))
		return nil
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Error(err)
	}
	return b
}

// spoolOpen reports whether this process holds open an unlinked file of
// dir: a spool that spilled to disk. Only Linux tells (/proc/self/fd);
// elsewhere it reports true.
func spoolOpen(t *testing.T, dir string) bool {
	if runtime.GOOS != "linux" {
		return true
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Errorf("listing open files: %v", err)
		return false
	}
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(target, filepath.Join(dir, "ownmx-spool-")) && strings.HasSuffix(target, " (deleted)") {
			return true
		}
	}
	return false
}

// TestResultsFromThroughServer sends messages through a real server and
// checks that the Data handler after the middleware finds, with
// ResultsFrom, the results that the Authentication-Results field it
// receives shows, and the verdict the middleware applied: for checked
// messages, under AnnotateOnly, and for a trusted client. It also reads
// each message three times (through r, then parsed and stored from
// smtpd.Reread): every read is the message the glue received with our
// field in front, byte for byte.
func TestResultsFromThroughServer(t *testing.T) {
	c, _ := newChecker(t)
	c.SpoolDir = t.TempDir()
	annotate := *c
	annotate.AnnotateOnly = true
	trusted := *c
	trusted.Resolver = noDNS{t}
	trusted.Trusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

	msg := testMessage
	large := msg("alice@example.net") + strings.Repeat("A line of a message larger than the spool's memory.\r\n", 3*smtpd.DefaultSpoolMemory/50)
	for _, tc := range []struct {
		name     string
		c        *Checker
		mailFrom string
		msg      string
		verdict  Verdict
		junk     bool
		spilled  bool
		check    func(t *testing.T, res *Results)
	}{
		{"DKIM pass", c, "bounce@elsewhere.example.org", sign(t, msg("alice@example.com"), "example.com", "ed"), Deliver, false, false,
			func(t *testing.T, res *Results) {
				if len(res.DKIM) != 1 || res.DKIM[0].Result != Pass || res.DMARC.Result != Pass || !res.DMARC.DKIMAligned {
					t.Errorf("results %+v, want DKIM and DMARC pass", res)
				}
			}},
		{"p=quarantine", c, "alice@example.org", msg("alice@example.org"), Quarantine, true, false,
			func(t *testing.T, res *Results) {
				if res.SPF.Result != Fail || res.DMARC.Result != Fail || res.DMARC.Policy != "quarantine" {
					t.Errorf("results %+v, want SPF and DMARC fail, policy quarantine", res)
				}
			}},
		{"p=none, header only", c, "alice@example.net", "From: <alice@example.net>\r\nSubject: Lunch\r\n", Deliver, false, false, nil},
		{"p=none, larger than the spool's memory", c, "alice@example.net", large, Deliver, false, true, nil},
		{"AnnotateOnly, p=reject", &annotate, "alice@example.com", msg("alice@example.com"), Reject, false, false,
			func(t *testing.T, res *Results) {
				if res.DMARC.Result != Fail || res.DMARC.Policy != "reject" {
					t.Errorf("results %+v, want DMARC fail, policy reject", res)
				}
			}},
		{"trusted client, p=reject", &trusted, "alice@example.com", sign(t, msg("alice@example.com"), "example.com", "ed"), Deliver, false, false,
			func(t *testing.T, res *Results) {
				if !res.Trusted || res.SPF.Result != None || len(res.DKIM) != 0 || res.DMARC.Result != None {
					t.Errorf("results %+v, want trusted: none, none, none", res)
				}
			}},
		{"trusted client, larger than the spool's memory", &trusted, "alice@example.net", large, Deliver, false, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, seen := handoffServer(t, tc.c)
			if err := smtptest.Send(addr, tc.mailFrom, []string{"bob@ownmx.test"}, tc.msg); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := seen()
			if len(got) != 1 {
				t.Fatalf("handler saw %d messages, want 1", len(got))
			}
			h := got[0]
			if !h.ok {
				t.Fatalf("ResultsFrom found nothing")
			}
			field := h.res.AuthenticationResults("mx.ownmx.test")
			if !bytes.HasPrefix(h.read, []byte(field)) {
				t.Errorf("the message does not start with the field of the Results:\n%s\nit starts:\n%.400s", field, h.read)
			}
			if h.res.Verdict() != tc.verdict || h.quarantine != tc.junk {
				t.Errorf("verdict %s, Junk %v; want %s, %v", h.res.Verdict(), h.quarantine, tc.verdict, tc.junk)
			}
			if tc.check != nil {
				tc.check(t, h.res)
			}

			want := append([]byte(field), h.input...)
			if !bytes.HasSuffix(h.input, []byte(tc.msg)) || !bytes.Equal(h.read, want) {
				t.Errorf("first read: %d bytes, want our field and the %d bytes the glue received", len(h.read), len(h.input))
			}
			if !h.reread {
				t.Fatalf("smtpd.Reread: the handler cannot read the message again")
			}
			if h.subject != "Lunch" || !bytes.Equal(h.stored, want) {
				t.Errorf("reading again: subject %q, stored %d bytes; want Lunch and the %d bytes of the first read", h.subject, len(h.stored), len(want))
			}
			if h.onDisk != tc.spilled {
				t.Errorf("spool on disk while the handler ran: %v, want %v", h.onDisk, tc.spilled)
			}
		})
	}
	if es, err := os.ReadDir(c.SpoolDir); err != nil || len(es) != 0 {
		t.Errorf("spool directory holds %v (%v)", es, err)
	}
}

// TestRereadAfterReturn: once next has returned, the middleware closes its
// spool, and the reader next was given fails rather than read freed memory
// or a closed file.
func TestRereadAfterReturn(t *testing.T) {
	c, _ := newChecker(t)
	var kept io.Reader
	next := smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
		kept = r
		return nil
	})
	env := envelope(ipX, "mta.example.test", "alice@example.net")
	if err := c.Middleware("mx.ownmx.test")(next).Data(t.Context(), env, strings.NewReader(testMessage("alice@example.net"))); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(kept); err != smtpd.ErrSpoolClosed {
		t.Errorf("reading after next returned: %v, want smtpd.ErrSpoolClosed", err)
	}
}

// TestRereadMemory sends a 10 MiB message through the glue to a handler
// that parses it and then reads it again from smtpd.Reread, hashing both
// reads: the handler needs no copy of its own, and the whole delivery
// allocates a small fraction of the message's size.
func TestRereadMemory(t *testing.T) {
	const size = 10 << 20
	c, _ := newChecker(t)
	c.SpoolDir = t.TempDir()
	line := "A line of a large message, long enough to be ordinary text.\r\n"
	msg := testMessage("alice@example.net") + strings.Repeat(line, size/len(line))
	env := envelope(ipX, "mta.example.test", "alice@example.net")
	if err := c.MailHandler(nil).Mail(t.Context(), env); err != nil {
		t.Fatal(err)
	}
	var sums [2][sha256.Size]byte
	var field string
	next := smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
		res, _ := ResultsFrom(env)
		field = res.AuthenticationResults("mx.ownmx.test")
		m, err := mail.ReadMessage(r)
		if err != nil {
			return err
		}
		h := sha256.New()
		if _, err := io.Copy(h, m.Body); err != nil {
			return err
		}
		h.Sum(sums[0][:0])
		again, ok := smtpd.Reread(r)
		if !ok {
			t.Fatalf("smtpd.Reread: the message cannot be read again")
		}
		h.Reset()
		if _, err := io.Copy(h, again); err != nil {
			return err
		}
		h.Sum(sums[1][:0])
		return nil
	})
	data := c.Middleware("mx.ownmx.test")(next)

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := data.Data(t.Context(), env, strings.NewReader(msg))
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("a %d MiB message, read twice after the glue: %d KiB allocated", size>>20, allocated>>10)
	if allocated > 1<<20 {
		t.Errorf("%d KiB allocated for a %d MiB message read twice; want under 1 MiB", allocated>>10, size>>20)
	}
	_, body, _ := strings.Cut(msg, "\r\n\r\n")
	if sums[0] != sha256.Sum256([]byte(body)) || sums[1] != sha256.Sum256([]byte(field+msg)) {
		t.Errorf("the reads are not the message: body %x, whole %x", sums[0], sums[1])
	}
}
