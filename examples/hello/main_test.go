package main

import (
	"bytes"
	"log/slog"
	"regexp"
	"strconv"
	"sync"
	"testing"

	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// syncBuffer is a log destination that the server's goroutines share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogsEachStage sends one message and reads the log as a user of the
// tutorial would: one record per stage, and one size for the message, the
// octets the client sent.
func TestLogsEachStage(t *testing.T) {
	var logs syncBuffer
	srv := newServer("", "example.com", slog.New(slog.NewTextHandler(&logs, nil)))
	addr := smtptest.Start(t, srv)
	msg := "Subject: hi\r\n\r\nHello Bob.\r\n"
	if err := smtptest.Send(addr, "alice@example.org", []string{"bob@example.com"}, msg); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	for _, want := range []string{"msg=connect", "msg=\"mail from\"", "from=alice@example.org", "msg=\"rcpt to\"", "rcpt=bob@example.com", "msg=\"message accepted\""} {
		if !bytes.Contains([]byte(out), []byte(want)) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	sizes := regexp.MustCompile(`size=(\d+)`).FindAllStringSubmatch(out, -1)
	if len(sizes) != 1 || sizes[0][1] != strconv.Itoa(len(msg)) {
		t.Errorf("log gives sizes %v for one message of %d octets; want it once:\n%s", sizes, len(msg), out)
	}
}
