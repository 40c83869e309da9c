// Command tlsrpt summarises the TLS-RPT reports (RFC 8460) that senders
// mail to a domain's rua address: per policy domain, how many sessions
// negotiated TLS, how many failed and why, from which sending hosts to
// which MX hosts.
//
// Run it from the repository's root:
//
//	go run ./examples/tlsrpt report.json.gz           # a report, as attached
//	go run ./examples/tlsrpt report.json message.eml  # reports and whole report mails
//	go run ./examples/tlsrpt < message.eml            # a whole report mail on stdin
//	go run ./examples/tlsrpt -maildir /var/mail/ownmx/example.com/tlsrpt
//
// Each file is a report, JSON or gzip-compressed JSON, or a whole mail
// message carrying one (multipart/report with an application/tlsrpt+gzip
// or application/tlsrpt+json attachment, RFC 8460 §5.3); which, is told
// from its first bytes. With no file and no -maildir, standard input is
// read. -maildir DIR reads every message of the Maildir folder DIR (its
// cur/ and new/, not tmp/), such as the mailbox that examples/inbox fills
// for the address of the domain's "_smtp._tls" record; messages that are
// not reports are named on standard error and skipped.
//
// Flags:
//
//	-maildir DIR  summarise every message of the Maildir folder DIR
//	-v            also print one line per report read
//
// The output is a line for the period and the number of reports, then one
// line per policy domain and type:
//
//	company-y.example sts: 5326 sessions ok, 303 failed (starttls-not-supported 200, certificate-expired 100, validation-failure 3) from ... to ...; reported by Company-X
//
// Exit status: 0 when every input was read, 1 when some could not be (the
// summary of the others is still printed), 2 for bad usage.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/ownmx/ownmx/tlsrpt"
)

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the program, with its arguments and streams given; it returns
// the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tlsrpt", flag.ContinueOnError)
	fs.SetOutput(stderr)
	maildir := fs.String("maildir", "", "summarise every message of the Maildir folder `DIR`")
	verbose := fs.Bool("v", false, "also print one line per report read")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return usage(stderr, "bad flags")
	}

	var inputs []input
	switch {
	case *maildir != "" && fs.NArg() > 0:
		return usage(stderr, "give files or -maildir, not both")
	case *maildir != "":
		var err error
		if inputs, err = maildirInputs(*maildir); err != nil {
			fmt.Fprintf(stderr, "tlsrpt: %v\n", err)
			return exitUsage
		}
	case fs.NArg() > 0:
		for _, name := range fs.Args() {
			inputs = append(inputs, fileInput(name))
		}
	default:
		inputs = []input{{name: "standard input", open: func() (io.ReadCloser, error) { return io.NopCloser(stdin), nil }}}
	}

	var s tlsrpt.Summary
	status := exitOK
	for _, in := range inputs {
		r, err := in.read()
		if err != nil {
			fmt.Fprintf(stderr, "tlsrpt: %s: %v\n", in.name, err)
			status = exitFailed
			continue
		}
		if *verbose {
			fmt.Fprintf(stdout, "%s: report %s from %s, %s to %s\n", in.name, r.ReportID, r.OrganizationName,
				r.DateRange.Start.Format("2006-01-02T15:04:05Z"), r.DateRange.End.Format("2006-01-02T15:04:05Z"))
		}
		s.Add(r)
	}
	io.WriteString(stdout, s.String())
	return status
}

func usage(stderr io.Writer, msg string) int {
	fmt.Fprintf(stderr, "tlsrpt: %s\n", msg)
	fmt.Fprintln(stderr, "usage: tlsrpt [-v] [FILE...] | tlsrpt [-v] -maildir DIR")
	return exitUsage
}

// input is a file, a message or standard input to read a report from.
type input struct {
	name string
	open func() (io.ReadCloser, error)
}

func fileInput(name string) input {
	return input{name: name, open: func() (io.ReadCloser, error) { return os.Open(name) }}
}

// read reads the report of in: a report if the input starts as one (gzip
// or a JSON object), else a mail message carrying one.
func (in input) read() (*tlsrpt.Report, error) {
	f, err := in.open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	if isReport(br) {
		return tlsrpt.Parse(br)
	}
	return tlsrpt.FromMessage(br)
}

// isReport reports whether br starts with gzip's magic number or, after
// white space, a JSON object: a mail message starts with a header field.
func isReport(br *bufio.Reader) bool {
	head, _ := br.Peek(512)
	if bytes.HasPrefix(head, []byte{0x1f, 0x8b}) {
		return true
	}
	head = bytes.TrimLeft(head, " \t\r\n")
	return len(head) > 0 && head[0] == '{'
}

// maildirInputs returns the messages of the Maildir folder dir, from cur/
// and new/ in name order; tmp/ holds messages still being written.
func maildirInputs(dir string) ([]input, error) {
	var inputs []input
	for _, sub := range []string{"cur", "new"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			return nil, fmt.Errorf("-maildir %s is not a Maildir folder: %v", dir, err)
		}
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			if e.Type().IsRegular() && e.Name()[0] != '.' {
				names = append(names, e.Name())
			}
		}
		slices.Sort(names)
		for _, n := range names {
			inputs = append(inputs, fileInput(filepath.Join(dir, sub, n)))
		}
	}
	return inputs, nil
}
