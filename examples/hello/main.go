// Command hello is the smallest ownmx server: it accepts mail for one
// domain and logs each stage of every session (client address, MAIL FROM,
// RCPT TO, message size), the Go version of the classic Node smtp-server
// tutorial. It keeps nothing: each message is read and dropped. The size of
// a message is in the server's own "message accepted" record: the octets
// the client sent, without the Received header the server adds.
//
// Run it (it listens on 127.0.0.1:2525 by default):
//
//	go run ./examples/hello -domain example.com
//
// and send it a message with swaks from another terminal:
//
//	swaks --server 127.0.0.1:2525 --from alice@example.org --to bob@example.com
//
// A recipient at another domain is refused with 550 5.7.1: the server does
// not relay.
package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ownmx/ownmx/smtpd"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:2525", "address to listen on")
	domain := flag.String("domain", "example.com", "the domain to accept mail for")
	var level slog.Level
	flag.TextVar(&level, "log-level", slog.LevelInfo, "least level logged: debug, info, warn or error")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	srv := newServer(*listen, *domain, log)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
		srv.Close()
	}()
	log.Info("listening", "addr", *listen, "domain", *domain)
	if err := srv.ListenAndServe(); !errors.Is(err, smtpd.ErrServerClosed) {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
}

// newServer returns the server: it logs each stage of a session to log.
func newServer(listen, domain string, log *slog.Logger) *smtpd.Server {
	return &smtpd.Server{
		Addr:   listen,
		Logger: log,
		Connect: smtpd.ConnectFunc(func(ctx context.Context, c *smtpd.Conn) error {
			log.Info("connect", "conn", c.ID, "remote", c.RemoteAddr.String())
			return nil
		}),
		Mail: smtpd.MailFunc(func(ctx context.Context, env *smtpd.Envelope) error {
			log.Info("mail from", "conn", env.Conn.ID, "helo", env.Conn.Helo, "from", env.From)
			return nil
		}),
		Rcpt: smtpd.AcceptDomains(domain).Then(smtpd.RcptFunc(func(ctx context.Context, env *smtpd.Envelope, to string) error {
			log.Info("rcpt to", "conn", env.Conn.ID, "rcpt", to)
			return nil
		})),
		Data: smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
			// The server logs "message accepted" with the size once this
			// returns nil.
			_, err := io.Copy(io.Discard, r)
			return err
		}),
	}
}
