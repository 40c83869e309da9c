package postfixtest

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// socketInodes returns the inodes of the sockets that processes pids hold.
func socketInodes(t *testing.T, pids []int) map[string]bool {
	t.Helper()
	inodes := map[string]bool{}
	for _, pid := range pids {
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			continue // exited
		}
		for _, fd := range fds {
			link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
			if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
				inodes[strings.TrimSuffix(inode, "]")] = true
			}
		}
	}
	return inodes
}

// inetSockets returns the local addresses of the IPv4 and IPv6 sockets in
// /proc/net/{tcp,tcp6,udp,udp6} whose inode is in inodes, TCP ones only
// when they listen, as "tcp 127.0.0.5:2525".
func inetSockets(t *testing.T, inodes map[string]bool) []string {
	t.Helper()
	var found []string
	for _, proto := range []string{"tcp", "tcp6", "udp", "udp6"} {
		f, err := os.Open("/proc/net/" + proto)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || !inodes[fields[9]] {
				continue
			}
			const listen = "0A"
			if strings.HasPrefix(proto, "tcp") && fields[3] != listen {
				continue
			}
			found = append(found, proto+" "+procNetAddr(t, fields[1]))
		}
		f.Close()
	}
	return found
}

// procNetAddr decodes an address of /proc/net/tcp: hex words of the IP in
// host byte order (little-endian here), a colon, the port in hex.
func procNetAddr(t *testing.T, s string) string {
	t.Helper()
	ipHex, portHex, _ := strings.Cut(s, ":")
	b, err := hex.DecodeString(ipHex)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	for i := 0; i+4 <= len(b); i += 4 {
		slices.Reverse(b[i : i+4])
	}
	ip, _ := netip.AddrFromSlice(b)
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)).String()
}

// TestListensOnlyAtAddr shows that of all the sockets of the instance's
// processes, with TLS on and after a delivery, the only one on the network
// is the SMTP server at Addr: no port 25, no submission, nothing else.
func TestListensOnlyAtAddr(t *testing.T) {
	t.Parallel()
	certFile, keyFile, client := testCert(t, "mx.example.com")
	in := Start(t, Options{Domains: []string{"example.com"}, CertFile: certFile, KeyFile: keyFile})
	if err := smtptest.Send(in.Addr, "s@example.org", []string{"u@example.com"}, "Subject: x\r\n\r\nx\r\n", smtptest.StartTLS(client)); err != nil {
		t.Fatal(err)
	}
	in.Wait(t, "u@example.com", 1)
	procs := livePostfix(t, in.paths.config)
	got := inetSockets(t, socketInodes(t, procs))
	if want := []string{"tcp " + in.Addr}; !slices.Equal(got, want) {
		t.Errorf("network sockets of the instance's processes %v: %q, want %q", procs, got, want)
	}
}

// fileState is what TestSystemPostfixUntouched compares of a file.
type fileState struct {
	mode  fs.FileMode
	size  int64
	mtime int64
	owner string
}

// snapshot returns the state of every file under each of roots.
func snapshot(t *testing.T, roots ...string) map[string]fileState {
	t.Helper()
	files := map[string]fileState{}
	for _, root := range roots {
		filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				files[path] = fileState{owner: err.Error()}
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			files[path] = fileState{info.Mode(), info.Size(), info.ModTime().UnixNano(), fmt.Sprint(info.Sys())}
			return nil
		})
	}
	return files
}

// TestSystemPostfixUntouched starts, uses and stops an instance and finds
// the system's Postfix files as they were: its configuration, queue and
// data directories, its programs and their permissions.
func TestSystemPostfixUntouched(t *testing.T) {
	t.Parallel()
	roots := []string{"/etc/postfix", "/var/spool/postfix", "/var/lib/postfix", "/usr/lib/postfix", "/usr/sbin/postdrop", "/usr/sbin/postqueue"}
	before := snapshot(t, roots...)
	t.Run("instance", func(t *testing.T) {
		in := Start(t, Options{Domains: []string{"example.com"}, Users: []string{"u@example.com"}})
		if err := smtptest.Send(in.Addr, "s@example.org", []string{"u@example.com", "unknown@example.com"}, "Subject: x\r\n\r\nx\r\n"); err == nil {
			t.Fatal("unknown@example.com accepted")
		}
		in.Wait(t, "u@example.com", 1)
	})
	after := snapshot(t, roots...)
	for path, b := range before {
		if a, ok := after[path]; !ok || a != b {
			t.Errorf("%s changed: %+v, was %+v", path, a, b)
		}
	}
	for path := range after {
		if _, ok := before[path]; !ok {
			t.Errorf("%s appeared", path)
		}
	}
}

// TestLogIsClean reads the instance's log after a delivery over TLS and
// two bounces, with settings of Options.Main: it holds Postfix's own
// lines about them, from its start on, and no warning or error, so the
// directories' owners and modes and the services in master.cf are what
// Postfix wants.
func TestLogIsClean(t *testing.T) {
	t.Parallel()
	certFile, keyFile, client := testCert(t, "mx.example.com")
	in := Start(t, Options{
		Domains: []string{"example.com"}, Users: []string{"u@example.com"},
		CertFile: certFile, KeyFile: keyFile,
		Main: map[string]string{
			"relay_domains": "relay.example",
			// Unknown users are accepted at RCPT, and bounced by virtual(8).
			"smtpd_reject_unlisted_recipient": "no",
		},
	})
	// Accepted for a domain that Main made a relay domain, and bounced by
	// error(8) rather than sent on.
	if err := smtptest.Send(in.Addr, "s@example.org", []string{"r@relay.example"}, "Subject: relay\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	if err := smtptest.Send(in.Addr, "s@example.org", []string{"u@example.com"}, "Subject: x\r\n\r\nx\r\n", smtptest.StartTLS(client)); err != nil {
		t.Fatal(err)
	}
	// Bounced at delivery; the bounces to the sender are refused by
	// error(8) rather than sent out.
	if err := smtptest.Send(in.Addr, "s@example.org", []string{"gone@example.com"}, "Subject: gone\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	in.Wait(t, "u@example.com", 1)
	waitLog(t, in, "status=bounced (unknown user")
	log := waitLog(t, in, "to=<s@example.org>, relay=none")
	for _, want := range []string{
		"postfix-script", "starting the Postfix mail system",
		"daemon started -- version 3.",
		"to=<r@relay.example>, relay=none", "status=bounced (this Postfix test instance sends no mail out)",
		"TLS connection established from unknown[127.0.0.1]",
		"to=<u@example.com>, relay=virtual", "status=sent (delivered to maildir)",
		`to=<gone@example.com>, relay=virtual`, `status=bounced (unknown user: "gone@example.com")`,
		"sender non-delivery notification",
		"to=<s@example.org>, relay=none", "status=bounced (this Postfix test instance sends no mail out)",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if bad := logLines(log, "warning:", "error:", "fatal:", "panic:"); len(bad) > 0 {
		t.Errorf("log has warnings or errors:\n%s", strings.Join(bad, "\n"))
	}
}

// waitLog waits until the instance's log holds want, polling until its
// timeout, and returns the log.
func waitLog(t *testing.T, in *Instance, want string) string {
	t.Helper()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	deadline := time.Now().Add(in.timeout)
	for {
		log := in.Log()
		if strings.Contains(log, want) {
			return log
		}
		if time.Now().After(deadline) {
			t.Fatalf("log lacks %q after %v:\n%s", want, in.timeout, log)
		}
		<-tick.C
	}
}
