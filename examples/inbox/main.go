// Command inbox receives mail for your own domains and keeps every message
// in a Maildir, one per address: the smtpd server, SPF, DKIM and DMARC from
// package auth with the sender domain's policy applied, and durable storage
// from package store, composed in one program.
//
// Run it on loopback, with the mail kept under ./mail (Go is all it needs):
//
//	go run ./examples/inbox -domain example.com
//
// and send it a message from another terminal with swaks (apt-get install
// swaks, brew install swaks):
//
//	swaks --server 127.0.0.1:2525 --to me@example.com
//
// The message appears as one file in ./mail/example.com/me/new/, with a
// Received and an Authentication-Results header added at the top. Read the
// mailbox with mutt:
//
//	mutt -f ./mail/example.com/me
//
// or serve it over IMAP with Dovecot (2.3), pointing it at the Maildirs with
// this line in its configuration (%d is the domain and %n the local part of
// the IMAP login, me@example.com):
//
//	mail_location = maildir:/path/to/mail/%d/%n
//
// The files belong to the user that runs inbox, with mode 0700 folders:
// give Dovecot's userdb that user's uid (or run inbox as the mail user).
//
// Mail that the sender domain's DMARC policy puts in quarantine goes to the
// mailbox's Junk folder, ./mail/example.com/me/.Junk/new/, which Dovecot
// shows as "Junk". Mail that its policy rejects is refused with 550 5.7.1 and
// never written; a DNS failure that leaves the verdict open is answered 451,
// so the sender tries again later. Each message gets one log line with its
// verdict (spf, dkim, dmarc, policy, verdict), and one more with its size
// when it is accepted; bodies are never logged. -users me,you accepts only those local parts (and postmaster,
// always); by default every address at the domains is a mailbox. Plus
// addresses (me+shop@) land in the mailbox without the tag.
//
// Without -users, anyone can make a new mailbox by sending it mail, so new
// mailboxes are bounded: -max-mailboxes a domain (default 1,000) and
// -max-new-mailboxes-per-hour in all (default 100). Past them, a message to
// an address that has no mailbox yet is turned away at RCPT TO with 450
// 4.2.1, a temporary refusal that real senders retry, while the existing
// mailboxes keep receiving; raise the bound and the retries get in. A
// negative value means no bound.
//
// Besides the Maildirs, -maildir holds .spool, where messages too large for
// memory wait while they are checked: on the same disk as the mail, as files
// without a name, so it always looks empty.
//
// To receive real mail, point your domain's MX record at the machine and
// listen on port 25, which takes root or CAP_NET_BIND_SERVICE
// (examples/dnscheck says what to publish):
//
//	inbox -listen :25 -domain example.com -hostname mx.example.com \
//		-maildir /var/mail/ownmx -tls-cert cert.pem -tls-key key.pem
//
// # Flags
//
// Every flag, with its default:
//
//	-listen 127.0.0.1:2525         address to listen on, host:port
//	-domain LIST                   domains to receive mail for, comma-separated (required)
//	-maildir ./mail                one Maildir per address, DIR/<domain>/<local>/ ("": none, with -webhook or -routes)
//	-users LIST                    local parts that have a mailbox (default: every address)
//	-hostname NAME                 name in the greeting and headers (default: the machine's host name)
//	-dns HOST:PORT                 nameserver for every query (default: the system resolver)
//	-check-local                   check SPF, DKIM and DMARC for loopback clients too (default false)
//	-max-size 26214400             largest message accepted, in bytes (25 MiB)
//	-idle-timeout 5m0s             time each line has to arrive whole
//	-max-conn-per-ip 0             connections at once from one client network (0: smtpd's 50)
//	-max-mailboxes 1000            mailboxes a domain may have without -users (negative: no limit)
//	-max-new-mailboxes-per-hour 100  new mailboxes in any hour without -users (negative: no limit)
//	-free-space-reserve 67108864   bytes kept free on the mail's disk beyond a message (64 MiB; 0: none)
//	-webhook URL                   POST every accepted message to URL too, through the queue
//	-webhook-secret SECRET         Standard Webhooks secret(s) signing the POSTs, comma-separated (required)
//	-routes FILE                   per recipient pattern: maildir, webhook or drop (see below)
//	-queue DIR                     the queue of -webhook and -routes (default: -maildir's .queue, or ./queue)
//	-queue-lifetime 120h0m0s       how long a failing delivery is retried before it is a dead letter
//	-retry-min 30s                 wait before the second try of a delivery; doubles from try to try
//	-retry-max 1h0m0s              longest wait between two tries
//	-forward LOCAL=ADDRESS         forward LOCAL's mail (me, or me@example.com) to ADDRESS; repeatable
//	-forward-domain DOMAIN         domain of SRS addresses and ARC signatures (default: the first -domain)
//	-dkim-key FILE                 private key (PEM, Ed25519 or RSA-2048) signing ARC sets (default: none)
//	-dkim-selector ownmx           selector of -dkim-key, published at SELECTOR._domainkey.DOMAIN
//	-srs-secret FILE               SRS secrets, one per line (default: srs.secret in the queue, made at start)
//	-smtp-port 25                  port of the MX hosts forwarded mail goes to (for tests)
//	-postgres URL                  keep mail and run the queue in this PostgreSQL database (see PostgreSQL)
//	-queue-lease 5m0s              with -postgres, how long a host holds a delivery it tries
//	-rate-conn 0                   connections a minute from one client network (0: 60; negative: none)
//	-rate-msg 0                    messages a minute from one client network (0: 120; negative: none)
//	-rate-domain 0                 messages a minute from one sender domain (0: 120; negative: none)
//	-rate-exempt 127.0.0.1,::1     addresses or CIDR prefixes no rate limit applies to
//	-proxy-from LIST               load balancers sending a PROXY protocol header, CIDR prefixes (default: none)
//	-proxy-header-timeout 0        time a -proxy-from connection has to send its PROXY header (0: 5s)
//	-tls-cert FILE                 certificate (PEM) for STARTTLS, with -tls-key (default: no STARTTLS)
//	-tls-key FILE                  its private key (PEM); both files are read again when they change, and on SIGHUP
//	-acme-dir DIR                  get STARTTLS's certificate for -hostname from an ACME CA, keeping it in DIR (default: none)
//	-acme-email ADDRESS            contact address given to the ACME CA (default: none)
//	-acme-ca URL                   the ACME CA's directory (default: Let's Encrypt, https://acme-v02.api.letsencrypt.org/directory)
//	-acme-http :80                 where the ACME CA's HTTP-01 challenges are answered
//	-mta-sts MODE                  serve an MTA-STS policy for every -domain: testing or enforce (none withdraws one; default: no policy)
//	-mta-sts-max-age 168h0m0s      the policy's max_age, how long senders keep it (at most 8766h)
//	-mta-sts-listen :443           address of the policy's HTTPS server
//	-mta-sts-mx LIST               mx patterns of the policy besides -hostname, comma-separated (default: none)
//	-metrics ADDR                  serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9125 (go doc ./metrics/prometheus lists them; default: none)
//	-log-level info                least important records logged: debug, info, warn or error
//
// A client network is an IPv4 address or an IPv6 /64. The rate limits
// (package ratelimit) are token buckets that hold a minute's worth: by
// default 60 connections and 120 messages a minute from one client
// network, and 120 messages a minute from one sender domain. An MTA sends
// several messages over one connection and retries a 4xx later, so these
// let any ordinary sender through at once and slow a flood to a trickle;
// raise them for a domain that receives bulk mail from a few big senders.
// Behind a load balancer, -proxy-from lists its addresses: it must send
// the PROXY protocol (HAProxy's send-proxy or send-proxy-v2), and the
// client's address it carries is what SPF, the limits and the Received
// header see; a connection from it that has not sent its header within
// -proxy-header-timeout is closed, without holding up other clients.
// Before a client sends a message, MAIL FROM is answered 452 4.3.1 (Insufficient system storage,
// try later) when the disk holding -maildir has less room than the message
// (its declared SIZE, or -max-size) plus -free-space-reserve, or fewer than
// a thousand free inodes.
//
// # Webhooks and routes
//
// -webhook URL hands every accepted message to an application as well: it
// is committed once to a queue on disk (-queue, by default .queue under
// -maildir), the client hears 250, and the queue POSTs it to URL as JSON
// (envelope, authentication results, the parsed message; go doc
// ./webhook has the schema), signed with -webhook-secret as the Standard
// Webhooks spec says, retrying with backoff for up to -queue-lifetime
// (five days) when the receiver fails; then the message goes to the dead
// letters. The Maildir keeps its copy too, from the same queue; -maildir ""
// keeps none. A crash loses nothing that was answered 250: each delivery
// runs again after a restart until its receiver confirmed it, with the same
// webhook-id, so a receiver that remembers the ids it has seen never acts
// twice.
//
// -routes FILE says, per recipient, what happens instead. One route per
// line:
//
//	PATTERN  ACTION  [OPTION...]
//
// PATTERN is one of package route's patterns: me@example.com, me@ (at
// every -domain), orders+*@example.com or orders+*@ (tagged addresses),
// *@example.com (the rest of a domain) or * (everything else). The most
// specific pattern wins (go doc ./route has the order); a recipient that
// no pattern matches is refused at RCPT TO with 550 5.1.1. Several lines
// with one pattern give it several actions, each with its own retries.
// ACTION is:
//
//	maildir              keep the message in the address's Maildir under -maildir
//	                     (its Junk folder under a DMARC quarantine)
//	webhook URL          POST the message to URL, signed, with retries
//	forward ADDRESS      send the message on to ADDRESS (see Forwarding); the
//	                     option junk forwards quarantined mail too
//	drop                 accept the message and keep nothing
//
// A webhook takes options:
//
//	secret=whsec_...     a signing secret; repeat it to sign with several
//	                     while receivers move to a new one. Default: -webhook-secret
//	raw                  POST the message itself (message/rfc822), not JSON
//	sync                 POST while the client waits and answer as the receiver
//	                     does: 2xx 250; 4xx 550 5.7.1, nothing kept (but 408
//	                     and 429, busy, 451); anything else 451
//	timeout=DURATION     how long one POST may take
//
// The postmaster of every -domain must have a route (RFC 5321 §4.5.1:
// its mail is always accepted), such as "postmaster@ maildir"; a *@domain
// or * route covers it. -users and the bounds on new mailboxes hold for
// the maildir action: a
// recipient whose route stores it must have, or be allowed, a mailbox;
// the other actions take every address their pattern matches.
//
// Blank lines and lines starting with # are ignored. For example:
//
//	# support@ and orders+...@ go to the application, the rest of
//	# example.com to Maildirs, and mail to noreply@ nowhere.
//	support@example.com   webhook https://app.example.com/hooks/mail
//	orders+*@example.com  webhook https://app.example.com/hooks/orders raw
//	*@example.com         maildir
//	noreply@              drop
//
// The file holds secrets: keep it readable by the inbox's user only.
//
// # Forwarding
//
// -forward me=me@mail.example sends the mail of me@ (at every -domain; or
// name one address, -forward me@example.com=...) on to the mailbox you
// already read, instead of a Maildir, as the hosted forwarding services do,
// so that it still passes SPF, DKIM and DMARC there:
//
//	inbox -domain example.com -forward me=me@mail.example \
//		-dkim-key arc.pem -dkim-selector ownmx
//
// The message goes out from the queue, unchanged but for the fields added
// on top, so its author's DKIM signature still verifies: Delivered-To, and
// an ARC set signed with -dkim-key for -forward-domain, which records this
// server's SPF, DKIM and DMARC results for the destination (publish the
// key: examples/dnscheck -records -dkim-key arc.pem -dkim-selector ownmx
// prints its record with the others).
// Its MAIL FROM becomes an SRS address at -forward-domain, so SPF at the
// destination checks this server against your domain's SPF record, which
// must allow it. A bounce that comes back to an SRS address goes to the
// original sender; a forged or expired one is refused with 550 5.1.1. The
// secrets that sign SRS addresses are in srs.secret in the queue's
// directory, made at first start: keep the file, or bounces of mail sent
// before it changed are refused.
//
// Forwarded mail goes to the destination's MX hosts on port 25, over
// STARTTLS when they offer it; a destination that publishes an MTA-STS
// policy in enforce mode (RFC 8461) gets its mail only over TLS, from a
// host its policy names, with a certificate that verifies. A destination
// that refuses the message (5xx), or that cannot be reached for
// -queue-lifetime, makes a bounce (RFC 3464) to the sender. Mail that the
// sender's DMARC policy quarantines is not forwarded: it is a dead letter
// (inbox queue dead says why), unless its route also keeps it in a Maildir,
// where it is in Junk, or forwards with "junk". A message that has been
// here before (a Delivered-To field for the address) or that has more than
// 50 Received fields is a loop, and is not sent again. A forward to an
// address at one of your own -domain goes to that address's route here.
//
// # PostgreSQL
//
// -postgres postgres://user:password@db.internal/mail keeps the mail in that
// database instead of Maildirs, and runs the queue of -webhook, -routes and
// -forward there too, so that several inboxes (two MX hosts of one domain,
// or receivers behind a load balancer) share one store and one queue: what
// any of them answers 250 is committed, and any of them delivers it. The
// schema is made, or brought up to date, at start. The "maildir" action of
// a routes file then stores in the database; -users names the mailboxes
// (the bounds on new mailboxes are the Maildir's); -maildir holds only the
// spool of large messages being checked. With forwarding, give every host
// the same -srs-secret file. A host holds each delivery it tries for
// -queue-lease (five minutes): a try that takes longer is cut off, and the
// deliveries of a host that died are tried by the others once their
// leases end, under the same webhook-id. Read the mail with package store/postgres
// (List, Open, MarkSeen, Move, Delete), and the queue with
// "inbox queue -postgres URL".
//
// # The queue
//
// inbox queue lists and changes the queue of a running or stopped inbox,
// as Postfix's mailq, postqueue and postsuper do; -queue DIR names the
// queue, or -maildir DIR the Maildirs whose .queue it is (./mail/.queue
// by default), or -postgres URL the database that holds it. A running
// inbox sees a change within a second.
//
//	inbox queue [-queue DIR] list          messages waiting, with each delivery's state
//	inbox queue [-queue DIR] dead          the dead letters, with the reason
//	inbox queue [-queue DIR] retry ID|all  try the waiting deliveries now
//	inbox queue [-queue DIR] replay ID     put a dead letter back in the queue
//	inbox queue [-queue DIR] delete ID     remove a message, waiting or dead
//
// # Clients on loopback
//
// A client connecting from a loopback address (127.0.0.0/8, ::1) is this
// machine itself: the user trying the server with swaks, or a program on the
// box handing over its mail, as Postfix's default mynetworks trusts. Its mail
// is delivered without SPF, DKIM and DMARC, and without asking DNS anything,
// so that the command above works on a laptop with no usable DNS and a test
// message from an unpublished domain is not refused. It is still annotated:
// Authentication-Results says "none" (no check was made) and any
// Authentication-Results field that claims this server's name is removed
// first, as for every message: inbox lists the loopback networks in
// auth.Checker.Trusted, which does all of this. -check-local runs the checks
// for loopback clients too; tests and benchmarks use it, and so must a setup
// in which something on this machine (a proxy, a tunnel) forwards
// connections from outside, since their mail would look local.
//
// # DNS
//
// -dns 127.0.0.1:53 sends every query to that nameserver; without it the
// system resolver answers. Either way the answers are kept in a cache (TTLs
// from -dns; one minute for the system resolver, which does not say them),
// so a busy sender's domain is not asked the same questions for every
// message.
//
// # Certificates
//
// STARTTLS needs a certificate for -hostname. Either give it as files
// (-tls-cert, -tls-key), read again when they change (checked at most every
// 5 s) or at once on SIGHUP; a pair that fails to load keeps the previous
// one in use and is logged. Or let inbox get it from Let's Encrypt (or
// another ACME CA, -acme-ca) with -acme-dir: it proves it holds -hostname
// by answering HTTP-01 challenges on -acme-http (port 80, which must reach
// it from the internet) and, with -mta-sts, TLS-ALPN-01 challenges on the
// policy's HTTPS server (port 443), keeps the account and certificate in
// -acme-dir (mode 0700) so that a restart reuses them, and renews the
// certificate 30 days before it expires. The first STARTTLS waits for the
// certificate. The CA's HTTPS is trusted as Go does (SSL_CERT_FILE names
// other roots).
//
// # MTA-STS
//
// Senders such as Gmail insist on TLS to this server, and check its
// certificate, only when the domain publishes an MTA-STS policy (RFC
// 8461): -mta-sts testing (report failures, deliver anyway) or -mta-sts
// enforce (deliver only over verified TLS to the policy's mx hosts) serves
// it at https://mta-sts.DOMAIN/.well-known/mta-sts.txt for each -domain,
// on -mta-sts-listen (port 443, which must reach it from the internet),
// and nothing else. Its mx patterns are -hostname and -mta-sts-mx; its
// max_age -mta-sts-max-age. The HTTPS server uses STARTTLS's certificate:
// with -acme-dir, inbox gets one for each mta-sts.DOMAIN too; with
// -tls-cert, the certificate must cover those names as well. At start,
// inbox logs the records to publish ("MTA-STS record to publish"): the
// _mta-sts TXT record, whose id changes whenever the policy does, so
// publish it again after changing these flags; and mta-sts.DOMAIN must
// point at this host. To stop using MTA-STS, serve -mta-sts none for
// max_age before removing the records (RFC 8461 §8.3).
//
// # Stopping
//
// SIGINT or SIGTERM stops accepting connections, lets every transaction in
// flight finish (for up to a minute) and exits 0. A second signal ends the
// program at once; a message that was not yet answered 250 is then not
// stored, and its sender tries again.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/ownmx/ownmx/auth"
	"github.com/ownmx/ownmx/certs"
	"github.com/ownmx/ownmx/dnsx"
	"github.com/ownmx/ownmx/forward"
	"github.com/ownmx/ownmx/queue"
	queuepg "github.com/ownmx/ownmx/queue/postgres"
	"github.com/ownmx/ownmx/ratelimit"
	"github.com/ownmx/ownmx/route"
	"github.com/ownmx/ownmx/smtpd"
	"github.com/ownmx/ownmx/store"
	"github.com/ownmx/ownmx/webhook"
)

const (
	// systemTTL is how long answers of the system resolver, which does not
	// report TTLs, are kept.
	systemTTL = time.Minute
	// shutdownGrace is how long transactions in flight may take to finish
	// after SIGINT or SIGTERM.
	shutdownGrace = time.Minute
	// spoolDir is the directory, inside -maildir, where messages too large
	// for memory wait while they are checked. It is on the disk that holds
	// the mail, not in a /tmp that may live in memory, and its files have
	// no name (they are unlinked as soon as they are made), so it stays
	// empty.
	spoolDir = ".spool"
	// queueDir is the queue's directory inside -maildir, unless -queue.
	queueDir = ".queue"
)

// loopback is this machine's own networks, whose clients are trusted
// unless -check-local (see "Clients on loopback" above).
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// config is what the flags say.
type config struct {
	listen     string
	domains    []string
	maildir    string
	dns        string
	hostname   string
	maxSize    int64
	users      []string
	idle       time.Duration
	maxPerIP   int
	rateConn   int
	rateMsg    int
	rateDomain int
	rateExempt []netip.Prefix
	proxyFrom  []netip.Prefix
	proxyWait  time.Duration // -proxy-header-timeout
	tlsCert    string
	tlsKey     string
	acmeDir    string // -acme-dir, "" for no ACME
	acmeEmail  string
	acmeCA     string
	acmeHTTP   string
	sts        stsConfig // -mta-sts and its flags: see mtasts.go
	level      slog.Level
	checkLocal bool

	maxMailboxes  int
	maxNewPerHour int
	freeReserve   int64

	webhook        string   // -webhook URL, "" for none
	webhookSecrets []string // -webhook-secret, comma-separated
	routes         string   // -routes FILE, "" for none
	queueDir       string
	lifetime       time.Duration
	retryMin       time.Duration
	retryMax       time.Duration

	forwards      []routeLine // -forward LOCAL=ADDRESS, as routes
	forwardDomain string      // -forward-domain, for SRS and ARC's d=
	dkimKey       string      // -dkim-key FILE
	dkimSelector  string      // -dkim-selector
	srsSecret     string      // -srs-secret FILE
	smtpPort      int         // -smtp-port: the destination port of forwards (a test seam)

	postgres string        // -postgres URL: the store and the queue in PostgreSQL
	lease    time.Duration // -queue-lease: how long a host holds a delivery of the queue in PostgreSQL

	metrics string // -metrics ADDR, "" for none
}

// queued reports whether mail goes through the queue: with a webhook,
// routes or forwards; otherwise it goes straight to the Maildirs.
func (cfg *config) queued() bool {
	return cfg.webhook != "" || cfg.routes != "" || len(cfg.forwards) > 0
}

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run is the program: it returns the exit status, 2 for a usage error.
func run(args []string, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "queue" {
		return runQueueCommand(args[1:], os.Stdout, stderr)
	}
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "inbox: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.level}))
	in, err := newInbox(cfg, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	srv := in.srv
	for _, c := range in.close {
		defer c()
	}
	if in.q != nil {
		defer in.q.Close()
	}
	l, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		log.Error("cannot listen", "addr", cfg.listen, "err", err)
		return 1
	}
	stopMetrics, err := in.serveMetrics(cfg, log)
	if err != nil {
		log.Error("cannot listen", "metrics", cfg.metrics, "err", err)
		return 1
	}
	defer stopMetrics()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopReload := reloadOnHangup(in.keyPair, log)
	defer stopReload()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	// The queue runs its deliveries until the server has stopped, so that
	// the messages of the last transactions start on their way too.
	qctx, stopQueue := context.WithCancel(context.Background())
	defer stopQueue()
	queueDone := make(chan error, 1)
	if in.q != nil {
		go func() { queueDone <- in.q.Run(qctx, in.routes) }()
		defer func() { stopQueue(); <-queueDone }()
	}
	log.Info("listening", "addr", l.Addr().String(), "domain", strings.Join(cfg.domains, ","),
		"maildir", maildirLog(cfg), "postgres", redacted(cfg.postgres), "queue", queueLog(cfg), "hostname", srv.Hostname, "check_local", cfg.checkLocal)

	select {
	case err := <-served:
		log.Error("serve", "addr", cfg.listen, "err", err)
		return 1
	case err := <-queueDone:
		queueDone <- err // for the deferred wait
		log.Error("queue stopped", "queue", cfg.queueDir, "err", err)
		srv.Close()
		<-served
		return 1
	case <-ctx.Done():
	}
	stop() // from now on a second signal ends the program at once
	log.Info("shutting down: finishing transactions in flight", "grace", shutdownGrace.String())
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		<-served
		log.Error("shutdown: transactions still in flight were cut off", "err", err)
		return 1
	}
	<-served
	log.Info("stopped")
	return 0
}

// queueLog is the queue's directory for the log, or "" without one.
func queueLog(cfg *config) string {
	if !cfg.queued() || cfg.postgres != "" {
		return ""
	}
	return cfg.queueDir
}

// maildirLog is the Maildirs' directory for the log, or "" when mail is
// kept elsewhere.
func maildirLog(cfg *config) string {
	if cfg.postgres != "" {
		return ""
	}
	return cfg.maildir
}

// parseFlags reads the command line.
func parseFlags(args []string, stderr io.Writer) (*config, error) {
	cfg := &config{}
	fs := flag.NewFlagSet("inbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:2525", "`address` to listen on, host:port")
	domains := fs.String("domain", "", "comma-separated `list` of the domains to receive mail for (required)")
	fs.StringVar(&cfg.maildir, "maildir", "./mail", "`directory` holding one Maildir per address, DIR/<domain>/<local>/")
	fs.StringVar(&cfg.dns, "dns", "", "send every DNS query to this nameserver, `host:port` (default: the system resolver)")
	fs.StringVar(&cfg.hostname, "hostname", "", "this server's `name` in the greeting, Received and Authentication-Results (default: the machine's host name)")
	fs.Int64Var(&cfg.maxSize, "max-size", 25<<20, "largest message accepted, in `bytes`")
	users := fs.String("users", "", "comma-separated `list` of the local parts that have a mailbox, postmaster always included (default: every address)")
	fs.DurationVar(&cfg.idle, "idle-timeout", 5*time.Minute, "time each command line and each line of a message has to arrive whole")
	fs.IntVar(&cfg.maxPerIP, "max-conn-per-ip", 0, "most connections at once from one client network, an IPv4 address or an IPv6 /64 (0: smtpd's default, 50)")
	fs.IntVar(&cfg.rateConn, "rate-conn", 0, "connections a minute from one client network; over it, 421 4.7.0 (0: 60; negative: no limit)")
	fs.IntVar(&cfg.rateMsg, "rate-msg", 0, "messages (MAIL commands) a minute from one client network; over it, 451 4.7.1 (0: 120; negative: no limit)")
	fs.IntVar(&cfg.rateDomain, "rate-domain", 0, "messages (MAIL commands) a minute from one sender domain, any client; over it, 451 4.7.1 (0: 120; negative: no limit)")
	rateExempt := fs.String("rate-exempt", "127.0.0.1,::1", "comma-separated `list` of addresses or CIDR prefixes no rate limit applies to")
	proxyFrom := fs.String("proxy-from", "", "comma-separated `list` of addresses or CIDR prefixes of load balancers whose connections start with a PROXY protocol v1 or v2 header (default: none)")
	fs.DurationVar(&cfg.proxyWait, "proxy-header-timeout", 0, "how long a connection from -proxy-from has to send its PROXY header whole before it is closed (0: smtpd's 5s)")
	fs.StringVar(&cfg.tlsCert, "tls-cert", "", "certificate `file` (PEM) for STARTTLS, with -tls-key")
	fs.StringVar(&cfg.tlsKey, "tls-key", "", "private key `file` (PEM) for STARTTLS, with -tls-cert")
	fs.StringVar(&cfg.acmeDir, "acme-dir", "", "get STARTTLS's certificate for -hostname from an ACME CA, keeping it in `dir`")
	fs.StringVar(&cfg.acmeEmail, "acme-email", "", "contact `address` given to the ACME CA")
	fs.StringVar(&cfg.acmeCA, "acme-ca", acme.LetsEncryptURL, "the ACME CA's directory `URL`")
	fs.StringVar(&cfg.acmeHTTP, "acme-http", ":80", "`address` where the ACME CA's HTTP-01 challenges are answered")
	level := fs.String("log-level", "info", "least important log records written: debug, info, warn or error")
	fs.IntVar(&cfg.maxMailboxes, "max-mailboxes", store.DefaultMaxMailboxes, "most mailboxes a domain may have without -users; mail to a new address past it gets 450 4.2.1 (negative: no limit)")
	fs.IntVar(&cfg.maxNewPerHour, "max-new-mailboxes-per-hour", store.DefaultMaxNewMailboxesPerHour, "most new mailboxes made in any hour without -users, all domains together; past it, 450 4.2.1 (negative: no limit)")
	fs.Int64Var(&cfg.freeReserve, "free-space-reserve", smtpd.DefaultFreeSpaceReserve, "`bytes` the disk holding -maildir must keep free beyond a message, or MAIL gets 452 4.3.1 (0: none)")
	fs.StringVar(&cfg.webhook, "webhook", "", "POST every accepted message to this `URL` as well, through the queue (see Webhooks and routes)")
	secrets := fs.String("webhook-secret", "", "Standard Webhooks `secret` (whsec_...) that signs the POSTs, required with a webhook; comma-separated to sign with several")
	fs.StringVar(&cfg.routes, "routes", "", "routes `file`: per recipient pattern, maildir, webhook or drop (see Webhooks and routes)")
	fs.StringVar(&cfg.queueDir, "queue", "", "queue `directory` of -webhook and -routes (default: .queue under -maildir, or ./queue without one)")
	fs.DurationVar(&cfg.lifetime, "queue-lifetime", queue.DefaultLifetime, "how long a failing delivery is retried before it goes to the dead letters")
	fs.DurationVar(&cfg.retryMin, "retry-min", queue.DefaultMinBackoff, "wait before the second try of a failed delivery; it doubles up to -retry-max")
	fs.DurationVar(&cfg.retryMax, "retry-max", queue.DefaultMaxBackoff, "longest wait between two tries of a delivery")
	fs.BoolVar(&cfg.checkLocal, "check-local", false, "check SPF, DKIM and DMARC for clients on loopback too (default: they are this machine, and trusted)")
	forwardFlags(fs, cfg)
	stsFlags(fs, cfg)
	metricsFlag(fs, cfg)
	fs.DurationVar(&cfg.lease, "queue-lease", queuepg.DefaultLease, "with -postgres, how long a host holds a delivery it tries: a try is cut off after it, and a host that died is replaced once it ends")
	fs.StringVar(&cfg.postgres, "postgres", "", "keep mail, and run the queue, in the PostgreSQL database at this `URL` (postgres://user:password@host/db) rather than under -maildir")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	queueSet := false
	fs.Visit(func(f *flag.Flag) { queueSet = queueSet || f.Name == "queue" })
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: every setting is a flag", fs.Arg(0))
	}
	cfg.domains = splitList(*domains)
	if len(cfg.domains) == 0 {
		return nil, errors.New("-domain is required: the domains to receive mail for, such as -domain example.com")
	}
	cfg.users = splitList(*users)
	var err error
	if cfg.rateExempt, err = parsePrefixes("-rate-exempt", *rateExempt); err != nil {
		return nil, err
	}
	if cfg.proxyFrom, err = parsePrefixes("-proxy-from", *proxyFrom); err != nil {
		return nil, err
	}
	cfg.webhookSecrets = splitList(*secrets)
	if cfg.webhook != "" && cfg.routes != "" {
		return nil, errors.New("-webhook and -routes do not go together: add a webhook line to the routes file")
	}
	if len(cfg.forwards) > 0 && cfg.routes != "" {
		return nil, errors.New("-forward and -routes do not go together: add a forward line to the routes file")
	}
	if err := checkForwardFlags(cfg); err != nil {
		return nil, err
	}
	if err := checkPostgresFlags(cfg, queueSet); err != nil {
		return nil, err
	}
	if len(cfg.webhookSecrets) > 0 && !cfg.queued() {
		return nil, errors.New("-webhook-secret needs -webhook or -routes")
	}
	if cfg.maildir == "" && cfg.postgres == "" && !cfg.queued() {
		return nil, errors.New(`-maildir "" keeps no mail: give -webhook or -routes`)
	}
	if cfg.maildir == "" && cfg.postgres == "" && len(cfg.users) > 0 {
		return nil, errors.New(`-users names the Maildirs, and -maildir "" has none: name the addresses in a -routes file`)
	}
	if cfg.queueDir == "" {
		cfg.queueDir = "./queue"
		if cfg.maildir != "" {
			cfg.queueDir = filepath.Join(cfg.maildir, queueDir)
		}
	}
	if cfg.lifetime <= 0 || cfg.retryMin <= 0 || cfg.retryMax < cfg.retryMin {
		return nil, fmt.Errorf("-queue-lifetime %v, -retry-min %v, -retry-max %v: want positive durations, -retry-max at least -retry-min", cfg.lifetime, cfg.retryMin, cfg.retryMax)
	}
	if err := cfg.level.UnmarshalText([]byte(*level)); err != nil {
		return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", *level)
	}
	if cfg.maxSize <= 0 {
		return nil, fmt.Errorf("-max-size %d: must be a positive number of bytes", cfg.maxSize)
	}
	if cfg.idle <= 0 {
		return nil, fmt.Errorf("-idle-timeout %v: must be positive", cfg.idle)
	}
	if cfg.freeReserve < 0 {
		return nil, fmt.Errorf("-free-space-reserve %d: must not be negative", cfg.freeReserve)
	}
	if cfg.freeReserve == 0 {
		cfg.freeReserve = -1 // no reserve; smtpd's zero means its default
	}
	if cfg.proxyWait < 0 {
		return nil, fmt.Errorf("-proxy-header-timeout %v: must not be negative", cfg.proxyWait)
	}
	if cfg.maxPerIP < 0 {
		return nil, fmt.Errorf("-max-conn-per-ip %d: must not be negative", cfg.maxPerIP)
	}
	if (cfg.tlsCert == "") != (cfg.tlsKey == "") {
		return nil, errors.New("-tls-cert and -tls-key go together: give both or neither")
	}
	if cfg.acmeDir != "" && cfg.tlsCert != "" {
		return nil, errors.New("-acme-dir and -tls-cert are two sources of the certificate: give one")
	}
	if cfg.hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("cannot tell this machine's host name (%v): give -hostname", err)
		}
		cfg.hostname = h
	}
	if err := checkSTSFlags(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var list []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			list = append(list, item)
		}
	}
	return list
}

// inbox is the program's parts: the SMTP server and, with -webhook or
// -routes, the queue and the routes whose actions it runs.
type inbox struct {
	srv    *smtpd.Server
	q      queuer // nil when mail goes straight to the store
	routes *route.Mux
	close  []func() // what to close when the server has stopped
	// keyPair is -tls-cert and -tls-key, reloaded on SIGHUP; nil without.
	keyPair *certs.KeyPair
	// acme gets the certificates with -acme-dir; nil without.
	acme    *certs.ACME
	metrics *metrics // -metrics; nil without
}

// mailStore is where mail is kept: the Maildirs (store.Mailboxes) or
// PostgreSQL (store/postgres), each the Rcpt handler of its mailboxes.
type mailStore interface {
	store.Store
	smtpd.RcptHandler
}

// queuer is the queue of routed mail: on disk (queue) or in PostgreSQL
// (queue/postgres).
type queuer interface {
	route.Committer
	Run(ctx context.Context, r queue.Runner) error
	Close() error
}

// newInbox composes the server that cfg describes.
func newInbox(cfg *config, log *slog.Logger) (*inbox, error) {
	in := &inbox{metrics: newMetrics(cfg)}
	var mail mailStore // nil: no store (-maildir "")
	switch {
	case cfg.postgres != "":
		st, err := openPostgresStore(cfg, log)
		if err != nil {
			return nil, err
		}
		in.close = append(in.close, st.Close)
		mail = st
	case cfg.maildir != "":
		boxes := &store.Mailboxes{
			Root:                   cfg.maildir,
			Domains:                cfg.domains,
			Users:                  cfg.users,
			MaxMailboxes:           cfg.maxMailboxes,
			MaxNewMailboxesPerHour: cfg.maxNewPerHour,
		}
		// Mailboxes checks its Domains and Users at first use: use it now, so
		// that a bad -domain or -users stops the program before it listens.
		if _, err := boxes.Mailbox("postmaster@" + cfg.domains[0]); err != nil {
			return nil, fmt.Errorf("-domain %q, -users %q: %w", strings.Join(cfg.domains, ","), strings.Join(cfg.users, ","), err)
		}
		mail = boxes
	}
	accept := smtpd.AcceptDomains(cfg.domains...)

	// The spool and the free space are those of the disk the mail is kept
	// on: the Maildirs', or the queue's without them.
	home := cfg.maildir
	if home == "" {
		home = cfg.queueDir
	}
	spool := filepath.Join(home, spoolDir)
	if err := os.MkdirAll(spool, 0o700); err != nil {
		return nil, fmt.Errorf("-maildir %q: %w", home, err)
	}
	disk := &store.Maildir{Dir: home}

	tlsConfig, err := in.certificates(cfg, log)
	if err != nil {
		return nil, err
	}
	if err := in.serveMTASTS(cfg, tlsConfig, log); err != nil {
		return nil, err
	}

	var resolver dnsx.Resolver
	if cfg.dns != "" {
		resolver = dnsx.NewCache(dnsx.NewResolver(cfg.dns), 0)
	} else {
		resolver = dnsx.NewCache(dnsx.FixedTTL(net.DefaultResolver, systemTTL), 0)
	}
	checker := &auth.Checker{Resolver: resolver, Logger: log, SpoolDir: spool, Checked: in.metrics.checked()}
	if !cfg.checkLocal {
		checker.Trusted = loopback
	}

	limiter := &ratelimit.Limiter{
		ConnPerMinute:   cfg.rateConn,
		MsgPerMinute:    cfg.rateMsg,
		DomainPerMinute: cfg.rateDomain,
		Exempt:          cfg.rateExempt,
	}
	in.srv = &smtpd.Server{
		Addr:                cfg.listen,
		Hostname:            cfg.hostname,
		TLSConfig:           tlsConfig,
		MaxMessageBytes:     cfg.maxSize,
		ReadTimeout:         cfg.idle,
		MaxConnectionsPerIP: cfg.maxPerIP,
		FreeSpace:           disk.FreeSpace,
		FreeSpaceReserve:    cfg.freeReserve,
		Mail:                smtpd.ChainMail(checker.MailHandler(nil), limiter.Mail),
		Connect:             smtpd.ChainConnect(nil, limiter.Connect),
		ProxyFrom:           cfg.proxyFrom,
		ProxyHeaderTimeout:  cfg.proxyWait,
		Logger:              log,
		Observer:            in.metrics.observer(),
	}
	if !cfg.queued() {
		in.srv.Rcpt = accept.Then(mail)
		in.srv.Data = smtpd.Chain(store.Handler(mail), checker.Middleware(cfg.hostname))
		return in, nil
	}

	newFwd := func() (*forward.Forwarder, error) { return newForwarder(cfg, resolver, checker, log) }
	mux, err := newRoutes(cfg, mail, newFwd)
	if err != nil {
		return nil, err
	}
	opts := queue.Options{
		Lifetime:   cfg.lifetime,
		MinBackoff: cfg.retryMin,
		MaxBackoff: cfg.retryMax,
		Logger:     log,
		Observer:   in.metrics.queueObserver(mux),
	}
	var (
		q     queuer
		count func(context.Context) (queue.Counts, error) // for -metrics
	)
	if cfg.postgres != "" {
		pq, err := openPostgresQueue(cfg, opts)
		if err != nil {
			return nil, err
		}
		q, count = pq, pq.Admin().Count
	} else {
		lq, err := queue.Open(cfg.queueDir, &opts)
		if err != nil {
			return nil, fmt.Errorf("-queue %q: %w", cfg.queueDir, err)
		}
		admin := lq.Admin()
		q, count = lq, func(context.Context) (queue.Counts, error) { return admin.Count() }
	}
	in.metrics.queueCounts(count)
	in.q, in.routes = q, mux
	in.srv.Rcpt = accept.Then(mux)
	in.srv.Data = smtpd.Chain(mux.Handler(q), checker.Middleware(cfg.hostname))
	return in, nil
}

// newRoutes makes the routes of -webhook, -forward or -routes; newFwd
// makes the Forwarder, when a route forwards.
func newRoutes(cfg *config, mail mailStore, newFwd func() (*forward.Forwarder, error)) (*route.Mux, error) {
	var lines []routeLine
	if mail != nil {
		lines = append(lines, routeLine{pattern: "*", action: "maildir"})
	}
	if cfg.webhook != "" {
		lines = append(lines, routeLine{pattern: "*", action: "webhook", url: cfg.webhook})
	}
	lines = append(lines, cfg.forwards...)
	if cfg.routes != "" {
		var err error
		if lines, err = readRoutesFile(cfg.routes); err != nil {
			return nil, err
		}
	}
	where := func(rl routeLine) string {
		if cfg.routes == "" && rl.action == "forward" {
			return "-forward " + rl.pattern + "=" + rl.target
		}
		if cfg.routes == "" {
			return "-webhook"
		}
		return fmt.Sprintf("-routes %s:%d", cfg.routes, rl.line)
	}
	var fwd *forward.Forwarder
	for _, rl := range lines {
		if rl.action == "forward" {
			var err error
			if fwd, err = newFwd(); err != nil {
				return nil, err
			}
			break
		}
	}
	actions := map[string][]route.Action{}
	var order []routeLine // the first line of each pattern
	for _, rl := range lines {
		var a route.Action
		switch rl.action {
		case "maildir":
			if mail == nil {
				return nil, fmt.Errorf(`%s: maildir with -maildir "": there are no Maildirs`, where(rl))
			}
			a = route.Store(mail)
		case "drop":
			a = route.Drop
		case "forward":
			t := fwd.To(rl.target)
			t.Quarantined = rl.junk
			a = t
		case "webhook":
			e := &webhook.Endpoint{URL: rl.url, Secrets: rl.secrets, Timeout: rl.timeout}
			if len(e.Secrets) == 0 {
				e.Secrets = cfg.webhookSecrets
			}
			if len(e.Secrets) == 0 {
				// Unsigned, anyone who finds the URL can post mail to
				// the application.
				return nil, fmt.Errorf("%s: a webhook needs a secret to sign its POSTs: give -webhook-secret (or secret= in the routes file), such as this new one: %s", where(rl), webhook.NewSecret())
			}
			if rl.raw {
				e.Format = webhook.RFC822
			}
			if err := e.Check(); err != nil {
				return nil, fmt.Errorf("%s: %w", where(rl), err)
			}
			a = e
			if rl.sync {
				a = e.Sync()
			}
		}
		if _, ok := actions[rl.pattern]; !ok {
			order = append(order, rl)
		}
		actions[rl.pattern] = append(actions[rl.pattern], a)
	}
	mux := route.NewMux()
	for _, rl := range order {
		if err := mux.Register(rl.pattern, actions[rl.pattern]...); err != nil {
			return nil, fmt.Errorf("%s: %w", where(rl), err)
		}
	}
	if fwd != nil {
		if err := fwd.HandleBounces(mux); err != nil {
			return nil, fmt.Errorf("-forward-domain %s: %w", cfg.forwardDomain, err)
		}
	}
	// smtpd accepts postmaster at every domain without asking the routes
	// (RFC 5321 §4.5.1): it must have one.
	for _, d := range cfg.domains {
		if _, _, ok := mux.Match("postmaster@" + d); !ok {
			return nil, fmt.Errorf("-routes %s: no route for postmaster@%s, which must receive mail (RFC 5321 §4.5.1): add one, such as \"postmaster@ maildir\"", cfg.routes, d)
		}
	}
	return mux, nil
}

// parsePrefixes parses a comma-separated list of CIDR prefixes or bare
// addresses (a /32 or /128) given to the flag name.
func parsePrefixes(name, list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range splitList(list) {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%s %q: not an address or CIDR prefix: %v", name, s, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
