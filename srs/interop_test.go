//go:build unix

package srs

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// postsrsd is a running postsrsd, the Sender Rewriting Scheme daemon for
// Postfix (Debian package postsrsd, 1.x: libsrs2's srs2.c), asked over its
// two TCP lookup tables.
type postsrsd struct {
	forward, reverse *bufio.ReadWriter
}

// startPostsrsd runs postsrsd for fwd.example with secrets (the first signs)
// on two loopback ports, and stops it when the test ends. postsrsd is
// ready once it has written its pid file, which it does after binding its
// ports: the pid file is a FIFO the test reads.
func startPostsrsd(t *testing.T, secrets ...string) *postsrsd {
	t.Helper()
	bin, err := exec.LookPath("postsrsd")
	if err != nil {
		bin = "/usr/sbin/postsrsd"
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("postsrsd is not installed (%v): .ci/run must install the Debian package postsrsd", err)
	}
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secrets")
	if err := os.WriteFile(secretFile, []byte(strings.Join(secrets, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "pid")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// Opened for reading and writing, the FIFO neither blocks postsrsd's
	// open nor reads as ended before postsrsd writes to it.
	pidFile, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pidFile.Close()

	// Free ports, found by listening and closing: another program could
	// take one meanwhile, and then postsrsd fails and is started again.
	var lastErr string
	for try := range 3 {
		ports := freePorts(t, 2)
		cmd := exec.Command(bin, "-4", "-l", "127.0.0.1", "-f", ports[0], "-r", ports[1],
			"-d", "fwd.example", "-s", secretFile, "-p", fifo, "-t", "60")
		// A file, not a pipe: the children postsrsd forks for each
		// connection inherit it, and Wait would wait for them.
		stderr, err := os.Create(filepath.Join(dir, fmt.Sprintf("stderr%d", try)))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = stderr
		err = cmd.Start()
		stderr.Close()
		if err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() {
			cmd.Wait()
			close(exited)
		}()
		read := make(chan struct{})
		go func() {
			// Should postsrsd end before it is ready, stop the read
			// below. The timer is a bound, not a wait.
			select {
			case <-read:
				return
			case <-exited:
			case <-time.After(10 * time.Second):
			}
			pidFile.SetReadDeadline(time.Now())
		}()
		buf := make([]byte, 32)
		n, err := pidFile.Read(buf) // one write of a few bytes: the pid
		close(read)
		if pid, _ := strconv.Atoi(string(buf[:n])); err == nil && pid == cmd.Process.Pid {
			// Cleanups run last first: the connections close before
			// postsrsd is stopped, so that its children end.
			t.Cleanup(func() {
				cmd.Process.Kill()
				<-exited
			})
			return &postsrsd{forward: dial(t, ports[0]), reverse: dial(t, ports[1])}
		}
		cmd.Process.Kill()
		<-exited
		msg, _ := os.ReadFile(stderr.Name())
		lastErr = fmt.Sprintf("read %q, %v; stderr: %s", buf[:n], err, msg)
		pidFile.SetReadDeadline(time.Time{})
	}
	t.Fatalf("postsrsd did not start: %s", lastErr)
	return nil
}

// freePorts returns n ports free on 127.0.0.1 a moment ago.
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var ports []string
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

func dial(t *testing.T, port string) *bufio.ReadWriter {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { c.Close() })
	return bufio.NewReadWriter(bufio.NewReader(c), bufio.NewWriter(c))
}

// lookup asks one of postsrsd's tables for key (Postfix's tcp_table
// protocol: "get KEY", "200 VALUE" or "500 REASON", URL-encoded) and
// returns the address, or "" and the reason it gave.
func lookup(t *testing.T, rw *bufio.ReadWriter, key string) (addr, reason string) {
	t.Helper()
	fmt.Fprintf(rw, "get %s\n", tcpTableEncode(key))
	if err := rw.Flush(); err != nil {
		t.Fatal(err)
	}
	line, err := rw.ReadString('\n')
	if err != nil {
		t.Fatalf("postsrsd: %v", err)
	}
	code, value, _ := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
	switch code {
	case "200":
		return tcpTableDecode(t, value), ""
	case "500":
		return "", value
	}
	t.Fatalf("postsrsd answered %q to %q", line, key)
	return "", ""
}

func tcpTableEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 127 || c == '%' {
			fmt.Fprintf(&b, "%%%02x", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func tcpTableDecode(t *testing.T, s string) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			t.Fatalf("postsrsd: bad escape in %q", s)
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			t.Fatalf("postsrsd: bad escape in %q", s)
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String()
}

// TestInteropPostsrsd checks the format against postsrsd: both make the
// same address of a sender (SRS0), of another forwarder's SRS0 and SRS1
// (SRS1), each reverses the other's addresses in any case to the same
// original, both refuse a forged hash and an old timestamp, and both
// rotate secrets alike. postsrsd runs on the machine's clock, so the test
// does too: an answer may come from either side of midnight.
//
// Quoted local parts are left out: postsrsd keeps the quotes inside its
// address ("SRS0=HHHH=TT=d="john doe"@fwd", not a valid address), where
// this package quotes the whole local part.
func TestInteropPostsrsd(t *testing.T) {
	const newSecret, oldSecret = "the new secret of fwd.example", "the old secret of fwd.example"
	p := startPostsrsd(t, newSecret, oldSecret)
	r := &Rewriter{Domain: "fwd.example", Secrets: [][]byte{[]byte(newSecret), []byte(oldSecret)}}
	old := &Rewriter{Domain: "fwd.example", Secrets: [][]byte{[]byte(oldSecret)}}

	for _, tt := range []struct{ from, back string }{
		{"alice@example.com", ""},
		{"Alice.Smith+tag@Example.COM", ""},
		{"a=b==c@example.com", ""},
		{"o'brien/x{y}@example.com", ""},
		{"用户@example.com", ""},
		{"SRS0=HHHH=TT=orig.example=carol@fwd1.example", ""},
		{"srs0+HHHH=TT=orig.example=carol@fwd1.example", "SRS0+HHHH=TT=orig.example=carol@fwd1.example"},
		{"SRS1=abcd=fwd1.example==HHHH=TT=orig.example=carol@fwd2.example", "SRS0=HHHH=TT=orig.example=carol@fwd1.example"},
		{"me@fwd.example", ""},
	} {
		if tt.back == "" {
			tt.back = tt.from
		}
		t.Run(tt.from, func(t *testing.T) {
			before, _ := r.Forward(tt.from)
			theirs, reason := lookup(t, p.forward, tt.from)
			after, err := r.Forward(tt.from)
			if err != nil {
				t.Fatal(err)
			}
			if theirs != before && theirs != after {
				t.Fatalf("Forward(%q) = %q, postsrsd made %q (%s)", tt.from, after, theirs, reason)
			}
			if tt.from == "me@fwd.example" {
				return
			}
			// Each reverses the other's, in any case and separator.
			byOld, _ := old.Forward(tt.from)
			for _, addr := range []string{theirs, after, strings.ToUpper(after), strings.ToLower(theirs),
				after[:4] + "+" + after[5:], byOld} {
				if got, err := r.Reverse(addr); err != nil || !strings.EqualFold(got, tt.back) {
					t.Errorf("Reverse(%q) = %q, %v; want %q", addr, got, err, tt.back)
				}
				if got, reason := lookup(t, p.reverse, addr); !strings.EqualFold(got, tt.back) {
					t.Errorf("postsrsd reverses %q to %q (%s), want %q", addr, got, reason, tt.back)
				}
			}
			// Both refuse another hash.
			forged := after[:5] + swapCase(after[5:9])[:3] + "X" + after[9:]
			if after[8] == 'X' || after[8] == 'x' {
				forged = after[:8] + "Y" + after[9:]
			}
			if _, err := r.Reverse(forged); !errors.Is(err, ErrForged) {
				t.Errorf("Reverse(%q) = %v, want ErrForged", forged, err)
			}
			if got, reason := lookup(t, p.reverse, forged); got != "" || !strings.Contains(reason, "Hash invalid") {
				t.Errorf("postsrsd reverses %q to %q (%s), want Hash invalid", forged, got, reason)
			}
		})
	}

	// An address made 30 days ago is expired for both.
	month := &Rewriter{Domain: "fwd.example", Secrets: r.Secrets, Now: func() time.Time { return time.Now().AddDate(0, 0, -30) }}
	addr, _ := month.Forward("alice@example.com")
	if _, err := r.Reverse(addr); !errors.Is(err, ErrExpired) {
		t.Errorf("Reverse(%q) = %v, want ErrExpired", addr, err)
	}
	if got, reason := lookup(t, p.reverse, addr); got != "" || !strings.Contains(reason, "Time stamp out of date") {
		t.Errorf("postsrsd reverses %q to %q (%s), want Time stamp out of date", addr, got, reason)
	}
	// One made 20 days ago is good for both.
	month.Now = func() time.Time { return time.Now().AddDate(0, 0, -20) }
	addr, _ = month.Forward("alice@example.com")
	if got, err := r.Reverse(addr); err != nil || got != "alice@example.com" {
		t.Errorf("Reverse(%q) = %q, %v", addr, got, err)
	}
	if got, reason := lookup(t, p.reverse, addr); got != "alice@example.com" {
		t.Errorf("postsrsd reverses %q to %q (%s)", addr, got, reason)
	}
}
