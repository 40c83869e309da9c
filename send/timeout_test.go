package send_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ownmx/ownmx/send"
	"github.com/ownmx/ownmx/smtpd"
)

// stall makes a receiver's Connect or Data handler wait until the test
// ends, and tells on entered when it starts waiting.
type stall struct {
	release chan struct{}
	entered chan struct{}
}

func newStall() *stall {
	return &stall{release: make(chan struct{}), entered: make(chan struct{}, 10)}
}

func (s *stall) wait(ctx context.Context) {
	s.entered <- struct{}{}
	select {
	case <-s.release:
	case <-ctx.Done():
	}
}

// serveStalled serves r on ip with its handler stalled at the greeting
// or after reading the message.
func (w *world) serveStalled(ip string, r *receiver, atData bool) *stall {
	s := newStall()
	if atData {
		r.Data = smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, body io.Reader) error {
			io.Copy(io.Discard, body)
			s.wait(ctx)
			return nil
		})
	} else {
		r.Connect = smtpd.ConnectFunc(func(ctx context.Context, c *smtpd.Conn) error {
			s.wait(ctx)
			return nil
		})
	}
	w.serve(ip, r.Server)
	// Runs before the server's Close: the handler ends, and so does its
	// session.
	w.t.Cleanup(func() { close(s.release) })
	return s
}

// sendBounded runs Send and fails the test if it has not returned after
// a minute: a Send that ignores its deadline would otherwise hang the
// test for the defaults' 5 and 10 minutes.
func sendBounded(t *testing.T, ctx context.Context, s *send.Sender, to string, msg *io.SectionReader) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Send(ctx, "alice@origin.test", to, msg) }()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Minute):
		t.Fatal("Send did not return within a minute")
		return nil
	}
}

// The context's end stops Send wherever it waits, with a temporary error
// that wraps the context's.
func TestSendContext(t *testing.T) {
	t.Run("cancelled at the greeting", func(t *testing.T) {
		w := newWorld(t, twoMX...)
		st := w.serveStalled("127.0.0.2", newReceiver("mx1.example.test"), false)
		mx2 := newReceiver("mx2.example.test")
		w.serve("127.0.0.3", mx2.Server)
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			<-st.entered
			cancel()
		}()
		err := sendBounded(t, ctx, w.sender(), "bob@example.test", msgOf(testMsg))
		// The server is in its Connect handler once the connection is
		// made; the client may still be returning from its dial.
		if e := sendErr(t, err); e.Permanent || !errors.Is(err, context.Canceled) || (e.Command != send.CommandGreeting && e.Command != send.CommandConnect) {
			t.Errorf("error %v, want a temporary one at the greeting wrapping context.Canceled", err)
		}
		if len(mx2.messages()) != 0 || len(w.dialed()) != 1 {
			t.Errorf("after the context ended, dialed %v", w.dialed())
		}
	})
	t.Run("deadline at the end of data", func(t *testing.T) {
		w := newWorld(t, twoMX...)
		w.serveStalled("127.0.0.2", newReceiver("mx1.example.test"), true)
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		err := sendBounded(t, ctx, w.sender(), "bob@example.test", msgOf(testMsg))
		if e := sendErr(t, err); e.Permanent || !errors.Is(err, context.DeadlineExceeded) || e.Command != send.CommandDataEnd {
			t.Errorf("error %v, want a temporary one at the end of data wrapping context.DeadlineExceeded", err)
		}
	})
	t.Run("deadline in DNS", func(t *testing.T) {
		w := newWorld(t, twoMX...)
		w.dns.Timeout("example.test.")
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		err := sendBounded(t, ctx, w.sender(), "bob@example.test", msgOf(testMsg))
		if e := sendErr(t, err); e.Permanent {
			t.Errorf("error %v, want a temporary one", err)
		}
	})
}

// CommandTimeout and DataTimeout bound each wait; the host that stalls is
// given up for the next.
func TestSendTimeouts(t *testing.T) {
	for _, atData := range []bool{false, true} {
		w := newWorld(t, twoMX...)
		w.serveStalled("127.0.0.2", newReceiver("mx1.example.test"), atData)
		mx2 := newReceiver("mx2.example.test")
		w.serve("127.0.0.3", mx2.Server)
		s := w.sender()
		if atData {
			s.DataTimeout = 100 * time.Millisecond
		} else {
			s.CommandTimeout = 100 * time.Millisecond
		}
		if err := sendBounded(t, t.Context(), s, "bob@example.test", msgOf(testMsg)); err != nil {
			t.Fatalf("stalled at data %v: %v", atData, err)
		}
		mx2.one(t)
	}
}

// A server that stops reading the message: each write waits at most
// CommandTimeout, and the message is not ended with "." after it.
func TestSendWriteStalls(t *testing.T) {
	w := newWorld(t,
		"example.test. IN MX 10 mx1.example.test.",
		"mx1.example.test. IN A 127.0.0.2",
	)
	hold := make(chan struct{})
	w.script("127.0.0.2", func(r *bufio.Reader, conn net.Conn) {
		io.WriteString(conn, "220 mx1.example.test\r\n")
		for range 10 {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			switch strings.TrimRight(line, "\r\n") {
			case "DATA":
				io.WriteString(conn, "354 go on\r\n")
				<-hold // reads no more, until the test ends
				return
			default:
				io.WriteString(conn, "250 ok\r\n")
			}
		}
	})
	t.Cleanup(func() { close(hold) }) // before the script's own cleanup
	s := w.sender()
	s.CommandTimeout = 200 * time.Millisecond
	// 64 MiB: more than the socket buffers of loopback hold.
	err := sendBounded(t, t.Context(), s, "bob@example.test", generated(64<<20))
	if e := sendErr(t, err); e.Permanent || e.Command != send.CommandData || e.Message != "timed out" {
		t.Errorf("error %v, want a temporary time-out at DATA", err)
	}
}

// A server that sends endless replies is cut off, not read into memory.
func TestSendReplyFlood(t *testing.T) {
	w := newWorld(t,
		"example.test. IN MX 10 mx1.example.test.",
		"mx1.example.test. IN A 127.0.0.2",
	)
	w.script("127.0.0.2", func(r *bufio.Reader, conn net.Conn) {
		io.WriteString(conn, "220 mx1.example.test\r\n")
		if _, err := r.ReadString('\n'); err != nil {
			return
		}
		line := "250-" + strings.Repeat("x", 996) + "\r\n"
		for range 8 << 10 { // 8 MiB, more than any client should read
			if _, err := io.WriteString(conn, line); err != nil {
				return
			}
		}
	})
	err := sendBounded(t, t.Context(), w.sender(), "bob@example.test", msgOf(testMsg))
	if e := sendErr(t, err); e.Permanent || e.Command != send.CommandEHLO || !strings.Contains(err.Error(), "MiB of replies") {
		t.Errorf("error %v, want a temporary one at EHLO saying the replies were too long", err)
	}
}

// A message that cannot be read is not sent cut short: the connection
// is dropped before the final ".", and no other host is tried.
func TestSendMessageReadFails(t *testing.T) {
	w := newWorld(t, twoMX...)
	mx1, mx2 := newReceiver("mx1.example.test"), newReceiver("mx2.example.test")
	w.serve("127.0.0.2", mx1.Server)
	w.serve("127.0.0.3", mx2.Server)
	broken := io.NewSectionReader(failingReaderAt{ok: testMsg[:40]}, 0, int64(len(testMsg)))
	err := w.sender().Send(t.Context(), "alice@origin.test", "bob@example.test", broken)
	e := sendErr(t, err)
	if e.Permanent || e.Command != send.CommandData || !errors.Is(err, errDisk) {
		t.Errorf("error %v, want a temporary one at DATA wrapping the read error", err)
	}
	if len(mx1.messages())+len(mx2.messages()) != 0 || len(w.dialed()) != 1 {
		t.Errorf("delivered %d, dialed %v", len(mx1.messages())+len(mx2.messages()), w.dialed())
	}
}

var errDisk = errors.New("disk on fire")

// failingReaderAt reads ok, then fails.
type failingReaderAt struct{ ok string }

func (f failingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(f.ok)) {
		return 0, errDisk
	}
	n := copy(p, f.ok[off:])
	if n < len(p) {
		return n, errDisk
	}
	return n, nil
}
