//go:build linux

// Command inboxload measures the peak memory of examples/inbox under a
// burst of large messages. bench/inbox-memory.sh builds both programs and
// runs it; by hand:
//
//	go build -o /tmp/inbox ./examples/inbox
//	go run ./bench/inboxload -inbox /tmp/inbox -n 50 -size 10485760
//
// It starts a DNS server on 127.0.0.1 (dnsx/dnstest) that publishes SPF and
// DMARC for the sending domain, starts the inbox binary on 127.0.0.1 with
// -check-local and -dns pointing at that server (so SPF, DKIM and DMARC run
// as for mail from the internet, and every message is spooled by the auth
// middleware), waits for its "listening" log line, sends n messages of
// size bytes at once over n connections with go-smtp's client, checks that
// each got 250 and landed in the Maildir, and reads the server's VmHWM
// (peak resident set) from /proc/PID/status before stopping it with
// SIGTERM.
//
// -per-conn M sends M messages one after the other on each connection, and
// -check-local=false runs the inbox as a newcomer does, trusting loopback,
// for comparisons. It prints one line of key=value pairs, peak_rss_kib and
// msgs_per_s among them, and exits 1 if a message failed. All traffic stays on 127.0.0.1; the Maildir
// is a temporary directory removed at the end.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/ownmx/ownmx/dnsx/dnstest"
)

// zone publishes SPF for 127.0.0.1 and a DMARC policy for the sender's
// domain, so that the load's messages pass DMARC by aligned SPF.
const zone = `
$ORIGIN load.example.
@ 300  SOA ns.load.example. hostmaster.load.example. 1 3600 600 86400 300
@ 300  TXT "v=spf1 ip4:127.0.0.1 -all"
_dmarc 300 TXT "v=DMARC1; p=reject"
`

const (
	from = "sender@load.example"
	to   = "me@inbox.example"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "inboxload: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	inbox := flag.String("inbox", "", "path of the built examples/inbox `binary` (required)")
	n := flag.Int("n", 50, "number of connections, all opened at once")
	perConn := flag.Int("per-conn", 1, "messages sent one after the other on each connection")
	checkLocal := flag.Bool("check-local", true, "run the inbox with -check-local, so that SPF, DKIM and DMARC run for this load on loopback")
	size := flag.Int64("size", 10<<20, "size of each message in `bytes`")
	timeout := flag.Duration("timeout", 5*time.Minute, "bound on the whole run")
	verbose := flag.Bool("v", false, "copy the server's log to stderr")
	flag.Parse()
	if *inbox == "" {
		return errors.New("-inbox is required: the path of a built examples/inbox")
	}
	if *n < 1 || *n > 1000 {
		return fmt.Errorf("-n %d: want 1 to 1000", *n)
	}
	if *perConn < 1 || *perConn > 100000 {
		return fmt.Errorf("-per-conn %d: want 1 to 100000", *perConn)
	}
	if *size < 1024 {
		return fmt.Errorf("-size %d: want at least 1024", *size)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	dns, err := dnstest.Start(zone)
	if err != nil {
		return fmt.Errorf("starting the DNS server: %w", err)
	}
	defer dns.Close()
	dir, err := os.MkdirTemp("", "inboxload-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	srv, err := startInbox(ctx, *inbox, dir, dns.Addr, *checkLocal, *verbose)
	if err != nil {
		return err
	}
	defer srv.stop()

	start := time.Now()
	errs := make([]error, *n)
	var wg sync.WaitGroup
	for i := range *n {
		wg.Go(func() { errs[i] = send(ctx, srv.addr, i, *perConn, *size) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	hwm, rss, err := peakRSS(srv.cmd.Process.Pid)
	if err != nil {
		return err
	}
	if err := srv.stop(); err != nil {
		return err
	}

	failed := 0
	var first error
	for _, err := range errs {
		if err != nil {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	landed, err := countFiles(filepath.Join(dir, "inbox.example", "me", "new"))
	if err != nil {
		return err
	}
	total := *n * *perConn
	fmt.Printf("connections=%d per_conn=%d size=%d check_local=%v conns_ok=%d landed=%d elapsed=%.2fs msgs_per_s=%.0f peak_rss_kib=%d rss_after_kib=%d\n",
		*n, *perConn, *size, *checkLocal, *n-failed, landed, elapsed.Seconds(), float64(landed)/elapsed.Seconds(), hwm, rss)
	if failed > 0 {
		return fmt.Errorf("%d of %d connections failed, the first with: %w", failed, *n, first)
	}
	if landed != total {
		return fmt.Errorf("%d messages answered 250 but %d files are in new/", total, landed)
	}
	return nil
}

// inbox is a running examples/inbox process.
type inbox struct {
	cmd    *exec.Cmd
	addr   string
	done   chan struct{} // closed when the process has been waited for
	err    error         // the Wait error, once done is closed
	once   sync.Once
	stderr *os.File
}

// listening matches the server's log line saying where it listens.
var listening = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startInbox starts the binary on a free port of 127.0.0.1 and returns once
// its log says it listens.
func startInbox(ctx context.Context, bin, dir, dnsAddr string, checkLocal, verbose bool) (*inbox, error) {
	args := []string{"-listen", "127.0.0.1:0", "-domain", "inbox.example", "-maildir", dir,
		"-dns", dnsAddr, "-hostname", "mx.inbox.example"}
	if checkLocal {
		args = append(args, "-check-local")
	}
	cmd := exec.Command(bin, args...)
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = pw
	// If this program dies, the kernel ends the inbox too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	pw.Close()
	s := &inbox{cmd: cmd, done: make(chan struct{}), stderr: pr}
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()

	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if m := listening.FindStringSubmatch(line); m != nil && !sent {
				addrc <- m[1]
				sent = true
			}
			if verbose || strings.Contains(line, "level=ERROR") || strings.Contains(line, "level=WARN") {
				fmt.Fprintln(os.Stderr, "inbox:", line)
			}
		}
		close(addrc)
	}()
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	select {
	case addr, ok := <-addrc:
		if ok {
			s.addr = addr
			return s, nil
		}
		s.stop()
		return nil, fmt.Errorf("%s ended before listening: %v", bin, s.err)
	case <-wait.Done():
		s.stop()
		return nil, fmt.Errorf("%s did not log that it listens within 30s", bin)
	}
}

// stop ends the server with SIGTERM (SIGKILL if it takes over 30 seconds)
// and reports how it exited.
func (s *inbox) stop() error {
	s.once.Do(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
		s.stderr.Close()
	})
	if s.err != nil {
		return fmt.Errorf("inbox exited: %w", s.err)
	}
	return nil
}

// send delivers perConn messages of size bytes over connection i.
func send(ctx context.Context, addr string, i, perConn int, size int64) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return fmt.Errorf("connection %d: %w", i, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.CommandTimeout, c.SubmissionTimeout = time.Until(dl), time.Until(dl)
	}
	if err := c.Hello("load.example"); err != nil {
		return fmt.Errorf("connection %d: EHLO: %w", i, err)
	}
	for j := range perConn {
		if err := c.Mail(from, &smtp.MailOptions{Size: size}); err != nil {
			return fmt.Errorf("connection %d, message %d: MAIL: %w", i, j, err)
		}
		if err := c.Rcpt(to, nil); err != nil {
			return fmt.Errorf("connection %d, message %d: RCPT: %w", i, j, err)
		}
		w, err := c.Data()
		if err != nil {
			return fmt.Errorf("connection %d, message %d: DATA: %w", i, j, err)
		}
		if _, err := io.Copy(w, newMessage(i*perConn+j, size)); err != nil {
			return fmt.Errorf("connection %d, message %d: sending: %w", i, j, err)
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("connection %d, message %d: end of DATA: %w", i, j, err)
		}
	}
	return c.Quit()
}

// newMessage returns a reader of a message of exactly size bytes: a short
// header and lines of text, generated as they are read.
func newMessage(i int, size int64) io.Reader {
	head := fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: load %d\r\nMessage-ID: <load.%d@load.example>\r\n\r\n", from, to, i, i)
	line := bytes.Repeat([]byte("x"), 76)
	line = append(line, '\r', '\n')
	block := bytes.Repeat(line, 64<<10/len(line))
	rest := size - int64(len(head))
	blocks := make([]io.Reader, 0, rest/int64(len(block))+2)
	blocks = append(blocks, strings.NewReader(head))
	for ; rest >= int64(len(block)); rest -= int64(len(block)) {
		blocks = append(blocks, bytes.NewReader(block))
	}
	if rest > 0 {
		tail := bytes.Repeat([]byte("y"), int(rest))
		if rest >= 2 {
			tail[rest-2], tail[rest-1] = '\r', '\n'
		}
		blocks = append(blocks, bytes.NewReader(tail))
	}
	return io.MultiReader(blocks...)
}

// peakRSS reads VmHWM and VmRSS, in KiB, from /proc/pid/status.
func peakRSS(pid int) (hwm, rss int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("reading the server's peak memory: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok || (key != "VmHWM" && key != "VmRSS") {
			continue
		}
		kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status: %s: %w", pid, line, err)
		}
		if key == "VmHWM" {
			hwm = kib
		} else {
			rss = kib
		}
	}
	if hwm == 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status has no VmHWM line", pid)
	}
	return hwm, rss, nil
}

// countFiles counts the entries of dir.
func countFiles(dir string) (int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("reading the Maildir: %w", err)
	}
	return len(ents), nil
}
