package postgres_test

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/ownmx/ownmx/internal/pgtest"
	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/smtpd/smtptest"
	"github.com/ownmx/ownmx/store"
	"github.com/ownmx/ownmx/store/postgres"
)

// serve starts an SMTP server on loopback that stores into s and refuses
// at RCPT the recipients s has no mailbox for.
func serve(t *testing.T, s *postgres.Store) string {
	t.Helper()
	return smtptest.Start(t, &smtpd.Server{
		Hostname: "mx.example.com",
		Rcpt:     s,
		Data:     store.Handler(s),
		Logger:   slog.New(slog.DiscardHandler),
	})
}

// TestSMTP sends mail over SMTP to a server backed by the Store: known
// users get it, unknown ones are refused at RCPT with 550 5.1.1, other
// domains with 550 5.7.1.
func TestSMTP(t *testing.T) {
	s, _ := newStore(t, &postgres.Options{Domains: []string{"example.com"}, Users: []string{"me", "you"}})
	addr := serve(t, s)
	if err := smtptest.Send(addr, "alice@example.org", []string{"me@example.com", "You+lists@EXAMPLE.com", "postmaster@example.com"},
		"Subject: over SMTP\r\n\r\nhi\r\n"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	for _, mailbox := range []string{"me@example.com", "you@example.com", "postmaster@example.com"} {
		if got := subjects(list(t, s, mailbox, postgres.Inbox)); len(got) != 1 || got[0] != "over SMTP" {
			t.Errorf("%s holds %q, want [over SMTP]", mailbox, got)
		}
	}
	// Refused at RCPT, not at DATA: the other recipient gets the message.
	err := smtptest.Send(addr, "alice@example.org", []string{"nobody@example.com", "me@example.com"}, "Subject: mixed\r\n\r\n")
	var reply *smtpd.Error
	if !errors.As(err, &reply) || reply.Code != 550 || reply.Enhanced != (smtpd.EnhancedCode{5, 1, 1}) {
		t.Errorf("Send to an unknown and a known user: err = %v, want 550 5.1.1 for the unknown one", err)
	}
	if got := subjects(list(t, s, "me@example.com", postgres.Inbox)); len(got) != 2 || got[0] != "mixed" {
		t.Errorf("after a message to an unknown and a known user, the known one holds %q, want [mixed over SMTP]", got)
	}
	for _, tc := range []struct {
		rcpt     string
		enhanced smtpd.EnhancedCode
	}{
		{"nobody@example.com", smtpd.EnhancedCode{5, 1, 1}},
		{"me.too@example.com", smtpd.EnhancedCode{5, 1, 1}},
		{"\"me\"@example.com", smtpd.EnhancedCode{5, 1, 1}},
		{"me@example.net", smtpd.EnhancedCode{5, 7, 1}},
		{"me@sub.example.com", smtpd.EnhancedCode{5, 7, 1}},
	} {
		err := smtptest.Send(addr, "alice@example.org", []string{tc.rcpt}, "Subject: refused\r\n\r\n")
		var reply *smtpd.Error
		if !errors.As(err, &reply) || reply.Code != 550 || reply.Enhanced != tc.enhanced {
			t.Errorf("Send to %s: err = %v, want 550 %v", tc.rcpt, err, tc.enhanced)
		}
	}
}

// TestSMTPServerDown checks what a sender sees while PostgreSQL is down: a
// temporary 451 after DATA, so that it tries again later; and once the
// database is back, 250, with the same Store.
func TestSMTPServerDown(t *testing.T) {
	srv := pgtest.Start(t)
	s := openStore(t, srv.CreateDatabase(t), nil)
	addr := serve(t, s)
	srv.Stop(t)
	err := smtptest.Send(addr, "alice@example.org", []string{"me@example.com"}, "Subject: while down\r\n\r\n")
	var reply *smtpd.Error
	if !errors.As(err, &reply) || reply.Code != 451 {
		t.Fatalf("Send with the database down: err = %v, want a 451 reply", err)
	}
	srv.Restart(t)
	if err := smtptest.Send(addr, "alice@example.org", []string{"me@example.com"}, "Subject: back\r\n\r\n"); err != nil {
		t.Fatalf("Send after the restart: %v", err)
	}
	if got := subjects(list(t, s, "me@example.com", postgres.Inbox)); len(got) != 1 || got[0] != "back" {
		t.Errorf("the inbox holds %q, want [back]", got)
	}
}

// TestMailbox checks the names of mailboxes: the rules of store.Mailboxes.
func TestMailbox(t *testing.T) {
	s, _ := newStore(t, &postgres.Options{Domains: []string{"example.com", "bücher.example"}})
	for addr, want := range map[string]string{
		"me@example.com":             "me@example.com",
		"Me+Tag@Example.COM":         "me@example.com",
		"me@example.com.":            "me@example.com",
		"kund@bücher.example":        "kund@xn--bcher-kva.example",
		"kund@xn--bcher-kva.example": "kund@xn--bcher-kva.example",
		"postmaster":                 "postmaster@example.com",
		"first.last_1-x@example.com": "first.last_1-x@example.com",
		"POSTMASTER@bücher.example":  "postmaster@xn--bcher-kva.example",
	} {
		got, err := s.Mailbox(addr)
		if err != nil || got != want {
			t.Errorf("Mailbox(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
	for addr, want := range map[string]error{
		"":                        smtpd.ErrNoSuchUser,
		"me":                      smtpd.ErrNoSuchUser,
		".me@example.com":         smtpd.ErrNoSuchUser,
		"a..b@example.com":        smtpd.ErrNoSuchUser,
		"../x@example.com":        smtpd.ErrNoSuchUser,
		"me@example.org":          smtpd.ErrRelayDenied,
		"me@[127.0.0.1]":          smtpd.ErrRelayDenied,
		"me@example.com/../x.org": smtpd.ErrRelayDenied,
	} {
		if got, err := s.Mailbox(addr); !errors.Is(err, want) {
			t.Errorf("Mailbox(%q) = %q, %v; want an error wrapping %v", addr, got, err, want)
		}
	}
}

// TestOptionsRefused checks that Open refuses Domains and Users that no
// mailbox could be named after.
func TestOptionsRefused(t *testing.T) {
	url := pgtest.Shared(t)
	for name, opts := range map[string]*postgres.Options{
		"domain with a slash": {Domains: []string{"example.com/x"}},
		"domain literal":      {Domains: []string{"[127.0.0.1]"}},
		"user with a plus":    {Users: []string{"me+x"}},
		"user with a slash":   {Users: []string{"../me"}},
		"user with a space":   {Users: []string{"me you"}},
	} {
		opts.Logger = slog.New(slog.DiscardHandler)
		if s, err := postgres.Open(t.Context(), url, opts); err == nil {
			s.Close()
			t.Errorf("%s: Open accepted %+v", name, opts)
		}
	}
}
