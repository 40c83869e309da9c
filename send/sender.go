package send

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/ownmx/ownmx/dnsx"
	"github.com/ownmx/ownmx/mtasts"
	"github.com/ownmx/ownmx/smtpd"
)

// Defaults of the Sender fields left at zero.
const (
	// DefaultConnectTimeout bounds the TCP connection to one address, as
	// Postfix's smtp_connect_timeout does.
	DefaultConnectTimeout = 30 * time.Second
	// DefaultCommandTimeout bounds the wait for the greeting and for each
	// reply but the last, and each write of the message: the 5 minutes
	// RFC 5321 §4.5.3.2 gives the greeting, MAIL and RCPT (it gives DATA 2
	// and each block of the message 3; one figure keeps it simple, and a
	// server that slow is rare).
	DefaultCommandTimeout = 5 * time.Minute
	// DefaultDataTimeout bounds the wait for the reply to the end of the
	// message, while the server stores or filters it (RFC 5321
	// §4.5.3.2.6).
	DefaultDataTimeout = 10 * time.Minute
	// DefaultMaxAddresses is how many addresses of a domain's MX hosts
	// Send tries, together, before it gives up until the next try:
	// enough for two or three hosts with an IPv4 and an IPv6 address, and
	// a bound on the connections that the DNS of a domain, which anyone
	// who sends us mail chooses for its bounces, can make us open.
	DefaultMaxAddresses = 10
)

// quitTimeout bounds the wait for the reply to QUIT. The message is
// delivered by then; waiting longer would only hold the caller.
const quitTimeout = 10 * time.Second

// maxReplyBytes bounds what a server may send on one connection: the
// replies of a transaction take a few kilobytes, and TLS certificates a
// few more. A server that sends more (a reply of endless lines) is cut
// off rather than allowed to fill the memory.
const maxReplyBytes = 1 << 20

// Sender delivers messages to the MX hosts of their recipients' domains
// over SMTP (RFC 5321), with STARTTLS (RFC 3207) whenever offered and
// MTA-STS (RFC 8461) when a PolicySource is set. Set Hostname and
// Resolver; the other fields have defaults. A Sender is safe for
// concurrent use; its fields must not change while it sends.
type Sender struct {
	// Hostname is the name this host gives in EHLO; required. It should
	// be the name its address's PTR record gives.
	Hostname string

	// Resolver finds the MX hosts of the recipient's domain and their
	// addresses; required. dnsx.LookupMX's rules apply: the implicit MX
	// of RFC 5321 §5.1 and the null MX of RFC 7505.
	Resolver dnsx.Resolver

	// MTASTS, if set, gives the recipient domain's MTA-STS policy. Under a
	// policy in enforce mode, only the MX hosts it names are tried, and
	// only over TLS with a certificate valid for the host's name. Nil
	// means no policy is applied.
	MTASTS PolicySource

	// TLSConfig is the base configuration for STARTTLS: its RootCAs
	// (nil means the system's) verify certificates under an MTA-STS
	// policy in enforce mode. Send sets ServerName to the MX host's name
	// and InsecureSkipVerify itself.
	TLSConfig *tls.Config

	// DialContext makes the TCP connections, to "IP:25"; nil means a
	// net.Dialer. Tests use it to send to a port of their own.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	// ConnectTimeout bounds the TCP connection to each address; zero
	// means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// CommandTimeout bounds the wait for the greeting and each reply
	// but the last, the TLS handshake, and each write of the message;
	// zero means DefaultCommandTimeout.
	CommandTimeout time.Duration
	// DataTimeout bounds the wait for the reply to the end of the
	// message; zero means DefaultDataTimeout.
	DataTimeout time.Duration
	// A negative timeout means none: only the context bounds the wait.
	// The context's deadline always applies.

	// MaxAddresses is how many addresses Send tries for one message,
	// over all the MX hosts; zero means DefaultMaxAddresses, negative
	// means no limit. A retry without TLS after a failed handshake does
	// not count.
	MaxAddresses int

	// Shuffle puts MX hosts of equal preference in a random order, as
	// RFC 5321 §5.1 asks, with the signature of rand.Shuffle; nil means
	// math/rand/v2's Shuffle. Tests set it to fix the order.
	Shuffle func(n int, swap func(i, j int))

	// Logger receives a record for each address tried and each host
	// skipped, and one for each message delivered; nil means
	// slog.Default(). Message bodies are never logged.
	Logger *slog.Logger
}

// Send delivers msg from from to the one recipient to, through the MX
// hosts of to's domain, and returns nil once one of them has accepted it
// (a 250 reply to the end of the message). from may be "", the null
// sender of bounces. msg is the whole message with CRLF line ends (a last
// line without one gets one, as the end of data needs it, RFC 5321
// §4.1.1.4); it is read with ReadAt from its first byte at each address
// tried, streamed, never held in memory, and may be read by other
// goroutines meanwhile.
//
// The hosts are tried in order of preference, those of equal preference
// in a random order, and each address of a host (A and AAAA) in turn
// (RFC 5321 §5.1), at most MaxAddresses in all. A connection failure, a
// timeout and any 4xx reply move on to the next address; a 5xx reply to
// MAIL FROM, RCPT TO or the message ends the delivery at once, as would
// any other host of the domain refuse it too. A 5xx greeting or EHLO only
// skips its host.
//
// STARTTLS is used whenever the server offers it. Without an MTA-STS
// policy in enforce mode, TLS is opportunistic (RFC 7435): the
// certificate is not verified, and a server whose handshake fails is
// tried again at once without TLS. Under a policy in enforce mode, a host
// that the policy does not name, that does not offer STARTTLS or whose
// certificate does not verify for its name is skipped, with the reason
// logged. A policy in testing or none mode changes nothing.
//
// Addresses whose local part is ASCII are sent with their domain in
// A-labels; a non-ASCII local part needs SMTPUTF8 (RFC 6531), and a
// server that lacks it refuses the message for good (5.6.7). BODY=8BITMIME
// is declared when offered (RFC 6152), the message's size when SIZE is
// (RFC 1870), and a message over the server's SIZE is refused for good
// (5.3.4).
//
// Every failure is an *Error. It is permanent (IsPermanent) for a
// recipient domain that does not exist (5.1.2) or has a null MX (5.1.10),
// when no MX host has an address (5.4.4), for a malformed address (5.1.3,
// 5.1.7), and for the 5xx replies above, and when every address tried
// failed for good. Otherwise it is temporary: of the failures, the last
// one that is a reply of a server is returned, or else the last one. An
// MTA-STS policy that cannot be fetched, and an enforce policy that no
// host meets, are temporary: the queue tries again later.
//
// The context bounds the whole delivery: when it ends, the connection is
// closed at once and Send returns an *Error wrapping the context's error.
func (s *Sender) Send(ctx context.Context, from, to string, msg *io.SectionReader) error {
	if s.Hostname == "" || s.Resolver == nil {
		return errors.New("send: Sender needs a Hostname and a Resolver")
	}
	env, bad := newEnvelope(from, to)
	if bad != nil {
		return bad
	}
	log := s.logger().With("rcpt", to, "domain", env.domain)

	hosts, err := dnsx.LookupMX(ctx, s.Resolver, env.domain)
	if err != nil {
		return mxError(to, env.domain, err)
	}
	policy, err := s.policy(ctx, env.domain)
	if err != nil {
		return &Error{Rcpt: to, Enhanced: smtpd.EnhancedCode{4, 4, 3}, Message: "MTA-STS policy of " + env.domain + " unknown", Err: err}
	}
	s.shuffle(hosts)

	d := &delivery{s: s, rcpt: to, env: env, msg: msg, policy: policy, log: log, left: s.maxAddresses()}
	for _, mx := range hosts {
		err := d.host(ctx, strings.TrimSuffix(mx.Host, "."))
		if err == nil {
			return nil
		}
		if err.final {
			return err
		}
		if d.left == 0 || ctx.Err() != nil {
			break
		}
	}
	return d.result(ctx)
}

// delivery is the state of one Send: the failures so far, and how many
// addresses may still be tried.
type delivery struct {
	s        *Sender
	rcpt     string // as given to Send
	env      envelope
	msg      *io.SectionReader
	policy   *mtasts.Policy // nil unless in enforce mode
	log      *slog.Logger
	left     int // addresses that may still be tried; negative: no limit
	failures []*Error
}

// host tries the addresses of one MX host. It returns nil when the
// message was delivered, and otherwise the last failure, which has final
// set when no other host should be tried.
func (d *delivery) host(ctx context.Context, host string) *Error {
	log := d.log.With("host", host)
	if d.policy != nil && !d.policy.Match(host) {
		return d.fail(log, &Error{Rcpt: d.rcpt, Host: host, Enhanced: smtpd.EnhancedCode{4, 7, 5},
			Message: "MTA-STS: the policy of " + d.env.domain + " (enforce) does not name this MX host"})
	}
	ips, err := d.s.Resolver.LookupIPAddr(ctx, host)
	if err == nil && len(ips) == 0 {
		err = &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	if err != nil {
		e := &Error{Rcpt: d.rcpt, Host: host, Enhanced: smtpd.EnhancedCode{4, 4, 3}, Message: "address lookup failed", Err: err}
		if dnsx.IsNotFound(err) {
			// An MX host without an address: the domain cannot be
			// reached until its owner fixes the DNS (Postfix bounces
			// with 5.4.4 too).
			e.Enhanced, e.Message, e.Permanent = smtpd.EnhancedCode{5, 4, 4}, "MX host has no address", true
		}
		return d.fail(log, e)
	}
	var last *Error
	for _, ipa := range ips {
		if d.left == 0 || ctx.Err() != nil {
			break
		}
		ip, ok := netip.AddrFromSlice(ipa.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if d.left > 0 {
			d.left--
		}
		s := &session{d: d, host: host, ip: ip, log: log.With("ip", ip.String()), tls: true}
		err := s.run(ctx)
		if err != nil && err.retryPlain && d.policy == nil && ctx.Err() == nil {
			log.Info("send: TLS handshake failed; trying again without TLS", "ip", ip.String(), "err", err.Error())
			s = &session{d: d, host: host, ip: ip, log: log.With("ip", ip.String()), tls: false}
			err = s.run(ctx)
		}
		if err == nil {
			return nil
		}
		last = d.fail(log, err)
		if last.final {
			return last
		}
	}
	if last == nil {
		last = &Error{Rcpt: d.rcpt, Host: host, Enhanced: smtpd.EnhancedCode{4, 4, 1}, Message: "no address tried"}
	}
	return last
}

// fail records a failure and logs it.
func (d *delivery) fail(log *slog.Logger, e *Error) *Error {
	d.failures = append(d.failures, e)
	level := slog.LevelInfo
	if strings.HasPrefix(e.Message, "MTA-STS") {
		level = slog.LevelWarn
	}
	log.Log(context.Background(), level, "send: host failed", "err", e.Error(), "permanent", e.Permanent)
	return e
}

// result is Send's error when no host took the message: permanent when
// every failure was, the last failure that is a server's reply, or else
// the last failure. When the context ended, it is the last failure,
// which the context's end caused.
func (d *delivery) result(ctx context.Context) error {
	permanent := ctx.Err() == nil && len(d.failures) > 0
	for _, e := range d.failures {
		permanent = permanent && e.Permanent
	}
	var pick *Error
	for _, e := range d.failures {
		if ctx.Err() != nil || (e.Permanent == permanent && (pick == nil || e.Code != 0 || pick.Code == 0)) {
			pick = e
		}
	}
	if pick == nil {
		pick = &Error{Rcpt: d.rcpt, Enhanced: smtpd.EnhancedCode{4, 4, 1}, Message: "no MX host of " + d.env.domain + " could be tried"}
	}
	e := *pick
	e.Permanent = permanent
	if cause := context.Cause(ctx); cause != nil && !errors.Is(e.Err, cause) {
		e.Err = errors.Join(e.Err, cause)
	}
	return &e
}

// mxError is Send's error when the MX lookup of domain failed.
func mxError(rcpt, domain string, err error) *Error {
	e := &Error{Rcpt: rcpt, Err: err}
	switch {
	case errors.Is(err, dnsx.ErrNullMX):
		e.Enhanced, e.Message, e.Permanent = smtpd.EnhancedCode{5, 1, 10}, domain+" accepts no mail (null MX, RFC 7505)", true
	case dnsx.IsNotFound(err):
		e.Enhanced, e.Message, e.Permanent = smtpd.EnhancedCode{5, 1, 2}, "domain "+domain+" has no MX or address records", true
	default:
		e.Enhanced, e.Message = smtpd.EnhancedCode{4, 4, 3}, "MX lookup of "+domain+" failed"
	}
	return e
}

// policy returns domain's MTA-STS policy when it is in enforce mode, and
// nil when no policy is to be enforced.
func (s *Sender) policy(ctx context.Context, domain string) (*mtasts.Policy, error) {
	if s.MTASTS == nil {
		return nil, nil
	}
	p, err := s.MTASTS.Policy(ctx, domain)
	if err != nil {
		return nil, fmt.Errorf("MTA-STS policy of %s: %w", domain, err)
	}
	if p == nil || p.Mode != mtasts.Enforce {
		return nil, nil
	}
	return p, nil
}

// shuffle orders hosts of equal preference at random; hosts arrive sorted
// by preference.
func (s *Sender) shuffle(hosts []*net.MX) {
	shuffle := s.Shuffle
	if shuffle == nil {
		shuffle = rand.Shuffle
	}
	for i := 0; i < len(hosts); {
		j := i + 1
		for j < len(hosts) && hosts[j].Pref == hosts[i].Pref {
			j++
		}
		if j-i > 1 {
			group := hosts[i:j]
			shuffle(len(group), func(a, b int) { group[a], group[b] = group[b], group[a] })
		}
		i = j
	}
}

func (s *Sender) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Sender) maxAddresses() int {
	switch {
	case s.MaxAddresses == 0:
		return DefaultMaxAddresses
	case s.MaxAddresses < 0:
		return -1
	}
	return s.MaxAddresses
}

// timeout returns d, or def when d is zero, or a time too far to matter
// when d is negative.
func timeout(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 100 * 365 * 24 * time.Hour
	}
	return d
}
