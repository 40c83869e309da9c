package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-message"
	"go.uber.org/goleak"
)

// bin is the program that TestMain builds for the tests to run.
var bin string

// TestMain builds the program once into a temporary directory (with the
// race detector when the tests have it), runs the tests, removes the
// directory, and fails the run if a test left a goroutine behind.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tlsrpt-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "tlsrpt")
	build := []string{"build", "-o", bin}
	if raceBuild {
		build = append(build, "-race")
	}
	if out, err := exec.Command("go", append(build, ".")...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./examples/tlsrpt: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// runBin runs the program with args and stdin, and returns its output
// and exit status.
func runBin(t *testing.T, stdin []byte, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		status = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errOut.String(), status
}

// The RFC 8460 Appendix B sample, and the line its summary gives.
const (
	sampleFile = "../../tlsrpt/testdata/rfc8460-appendix-b.json"
	sampleLine = "company-y.example sts: 5326 sessions ok, 303 failed (starttls-not-supported 200, certificate-expired 100, validation-failure 3)" +
		" from 198.51.100.62, 2001:db8:abcd:12::1, 2001:db8:abcd:13::1" +
		" to mx-backup.mail.company-y.example, mx1.mail.company-y.example, mx2.mail.company-y.example; reported by Company-X\n"
)

func sample(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(sampleFile)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// reportMail is a report mail as Google sends it, carrying report
// gzip-compressed, built with go-message.
func reportMail(t *testing.T, report []byte) []byte {
	t.Helper()
	var h message.Header
	h.Set("From", "noreply-smtp-tls-reporting@google.com")
	h.Set("To", "tlsrpt@company-y.example")
	h.Set("Subject", "Report Domain: company-y.example Submitter: google.com Report-ID: <1@google.com>")
	h.Set("MIME-Version", "1.0")
	h.Set("Content-Type", `multipart/report; report-type="tlsrpt"`)
	var buf bytes.Buffer
	w, err := message.CreateWriter(&buf, h)
	if err != nil {
		t.Fatal(err)
	}
	var th message.Header
	th.Set("Content-Type", "text/plain")
	tw, _ := w.CreatePart(th)
	tw.Write([]byte("This is an aggregate TLS report from google.com\r\n"))
	tw.Close()
	var ah message.Header
	ah.Set("Content-Type", "application/tlsrpt+gzip")
	ah.Set("Content-Transfer-Encoding", "base64")
	ah.SetContentDisposition("attachment", map[string]string{"filename": "google.com!company-y.example!1459468800!1459555199!001.json.gz"})
	aw, _ := w.CreatePart(ah)
	aw.Write(gz(t, report))
	aw.Close()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t *testing.T, path string, b []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestFiles summarises reports given as files: JSON, gzip and a mail.
func TestFiles(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"report.json", sample(t)},
		{"report.json.gz", gz(t, sample(t))},
		{"report.eml", reportMail(t, sample(t))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := writeFile(t, filepath.Join(dir, tc.name), tc.data)
			stdout, stderr, status := runBin(t, nil, f)
			want := "1 report from 2016-04-01T00:00:00Z to 2016-04-01T23:59:59Z\n" + sampleLine
			if status != 0 || stdout != want || stderr != "" {
				t.Errorf("status %d\nstdout:\n%s\nwant:\n%s\nstderr: %s", status, stdout, want, stderr)
			}
		})
	}

	// Several files add up.
	a := writeFile(t, filepath.Join(dir, "a.json.gz"), gz(t, sample(t)))
	b := writeFile(t, filepath.Join(dir, "b.eml"), reportMail(t, sample(t)))
	stdout, _, status := runBin(t, nil, "-v", a, b)
	if status != 0 || !strings.Contains(stdout, "2 reports from") ||
		!strings.Contains(stdout, "company-y.example sts: 10652 sessions ok, 606 failed (starttls-not-supported 400, certificate-expired 200, validation-failure 6)") ||
		!strings.Contains(stdout, a+": report 5065427c-23d3-47ca-b6e0-946ea0e8c4be from Company-X, 2016-04-01T00:00:00Z to 2016-04-01T23:59:59Z") {
		t.Errorf("two files: status %d, stdout:\n%s", status, stdout)
	}
}

// TestStdin reads a whole report mail from standard input.
func TestStdin(t *testing.T) {
	stdout, stderr, status := runBin(t, reportMail(t, sample(t)))
	if status != 0 || !strings.HasSuffix(stdout, sampleLine) || stderr != "" {
		t.Errorf("status %d, stdout:\n%s\nstderr: %s", status, stdout, stderr)
	}
}

// TestMaildir summarises the report mails of a Maildir folder, naming on
// standard error the messages that are not reports, and leaving tmp/
// alone.
func TestMaildir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tlsrpt")
	other := bytes.Replace(sample(t), []byte("Company-X"), []byte("Company-Z"), 1)
	writeFile(t, filepath.Join(dir, "cur", "1459555200.M1P1.mx:2,S"), reportMail(t, sample(t)))
	writeFile(t, filepath.Join(dir, "new", "1459555300.M2P1.mx"), reportMail(t, other))
	spam := writeFile(t, filepath.Join(dir, "new", "1459555400.M3P1.mx"), []byte("From: a@example.org\r\nSubject: hello\r\n\r\nNot a report.\r\n"))
	writeFile(t, filepath.Join(dir, "tmp", "1459555500.M4P1.mx"), []byte("From: half-written"))

	stdout, stderr, status := runBin(t, nil, "-maildir", dir)
	if status != 1 {
		t.Errorf("status %d, want 1 for the message that is not a report", status)
	}
	if !strings.Contains(stderr, spam+": tlsrpt: no report in the message") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr %q does not name only %s", stderr, spam)
	}
	want := "2 reports from 2016-04-01T00:00:00Z to 2016-04-01T23:59:59Z\n" +
		"company-y.example sts: 10652 sessions ok, 606 failed"
	if !strings.HasPrefix(stdout, want) || !strings.HasSuffix(stdout, "reported by Company-X, Company-Z\n") {
		t.Errorf("stdout:\n%s\nwant it to start with:\n%s", stdout, want)
	}
}

// TestBadInput names each input that is not a report, with the reason,
// and still summarises the others.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, filepath.Join(dir, "good.json"), sample(t))
	z := gz(t, sample(t))
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"truncated.json.gz", z[:len(z)-10], "truncated"},
		{"missing.json", []byte(`{"organization-name": "x"}`), "date-range: missing"},
		{"bomb.json.gz", gz(t, bytes.Repeat([]byte(" "), 20<<20)), "gzip bomb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := writeFile(t, filepath.Join(dir, tc.name), tc.data)
			stdout, stderr, status := runBin(t, nil, f, good)
			if status != 1 || !strings.Contains(stderr, f+": ") || !strings.Contains(stderr, tc.want) {
				t.Errorf("status %d, stderr %q; want 1 and %q", status, stderr, tc.want)
			}
			if !strings.HasSuffix(stdout, sampleLine) {
				t.Errorf("the good report is not summarised:\n%s", stdout)
			}
		})
	}
	_, stderr, status := runBin(t, nil, filepath.Join(dir, "none.json"))
	if status != 1 || !strings.Contains(stderr, "no such file") {
		t.Errorf("missing file: status %d, stderr %q", status, stderr)
	}
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-bogus"}, "bogus"},
		{[]string{"-maildir", t.TempDir()}, "is not a Maildir folder"},
		{[]string{"-maildir", t.TempDir(), "file.json"}, "not both"},
	} {
		_, stderr, status := runBin(t, nil, tc.args...)
		if status != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: status %d, stderr %q; want 2 and %q", tc.args, status, stderr, tc.want)
		}
	}
	if _, stderr, status := runBin(t, nil, "-h"); status != 0 || !strings.Contains(stderr, "-maildir") {
		t.Errorf("-h: status %d, stderr %q", status, stderr)
	}
}
