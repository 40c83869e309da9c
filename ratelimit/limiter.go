// Package ratelimit limits how fast one client network may connect and
// send, and how fast mail may come from one sender domain, with token
// buckets (golang.org/x/time/rate). A Limiter plugs into an smtpd.Server as
// a ConnectMiddleware and a MailMiddleware:
//
//	lim := &ratelimit.Limiter{}
//	srv.Connect = smtpd.ChainConnect(srv.Connect, lim.Connect)
//	srv.Mail = smtpd.ChainMail(srv.Mail, lim.Mail)
//
// Its memory is bounded: each kind of bucket is kept in a table of at most
// MaxKeys entries, the least recently used one forgotten first, so a client
// spraying connections from many addresses cannot make it grow.
package ratelimit

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/ownmx/ownmx/smtpd"
)

// Defaults of the Limiter fields left at zero. They suit the MX of a small
// domain: an MTA delivers several messages over one connection and queues
// and retries what gets a 4xx, so a legitimate sender rarely needs more than
// one connection a second from one address, and a burst of a minute's worth
// passes at once; a spammer's or a scanner's flood is slowed to that pace.
const (
	DefaultConnPerMinute   = 60  // connections per client network
	DefaultMsgPerMinute    = 120 // messages (MAIL commands) per client network
	DefaultDomainPerMinute = 120 // messages (MAIL commands) per sender domain
	DefaultMaxKeys         = 100_000
)

// Limiter counts connections and MAIL commands per client network (an IPv4
// address, an IPv6 /64: see Key) and MAIL commands per sender domain, each
// in a token bucket that holds a minute's worth and refills at that rate. A
// zero limit means its default, a negative one no limit. The fields must be
// set before the first use. A Limiter is safe for concurrent use.
type Limiter struct {
	// ConnPerMinute is how many connections a client network may open a
	// minute; over it the client is told 421 4.7.0 before the greeting.
	// Default 60.
	ConnPerMinute int
	// MsgPerMinute is how many MAIL commands a client network may send a
	// minute; over it MAIL gets 451 4.7.1. Default 120.
	MsgPerMinute int
	// DomainPerMinute is how many MAIL commands may name one sender
	// domain (the part of MAIL FROM after the last @, in lower case) a
	// minute, from any client; over it MAIL gets 451 4.7.1. The null
	// sender of bounces has no domain and is counted only by
	// MsgPerMinute. Default 120.
	DomainPerMinute int
	// MaxKeys bounds the buckets kept for each of the three limits; past
	// it, the least recently used is forgotten (its client starts again
	// with a full bucket). Default 100,000: about 24 MB per limit
	// (239 bytes a bucket, BenchmarkSprayMemory), however many networks
	// come.
	MaxKeys int
	// Exempt lists the client networks no limit applies to (this
	// machine's own address, say, for local scripts and health checks);
	// their messages do not count against their sender domain either.
	Exempt []netip.Prefix
	// Now returns the current time; default time.Now.
	Now func() time.Time

	once        sync.Once
	conns, msgs *table[netip.Prefix]
	domainTable *table[string]
}

// Key returns the client network addr is counted under: an IPv4 address
// on its own (a /32), an IPv6 address's /64, since a site is given a /64 at
// least (RFC 6177) and may use any address in it. An IPv4 address seen
// through an IPv6 socket (::ffff:192.0.2.1) is IPv4; the zone is dropped.
func Key(addr netip.Addr) netip.Prefix {
	addr = addr.Unmap().WithZone("")
	bits := 32
	if addr.Is6() {
		bits = 64
	}
	p, _ := addr.Prefix(bits) // the zero Addr gives the zero Prefix
	return p
}

// Connect is a smtpd.ConnectMiddleware: it refuses a client network over
// ConnPerMinute with 421 4.7.0 and otherwise runs next.
func (l *Limiter) Connect(next smtpd.ConnectHandler) smtpd.ConnectHandler {
	return smtpd.ConnectFunc(func(ctx context.Context, c *smtpd.Conn) error {
		l.init()
		if ip := c.RemoteAddr.Addr(); !l.exempt(ip) && !l.conns.allow(Key(ip), l.now()) {
			return smtpd.Errorf(421, smtpd.EnhancedCode{4, 7, 0}, "Too many connections from your network (at most %d a minute), try again later", limit(l.ConnPerMinute, DefaultConnPerMinute))
		}
		if next == nil {
			return nil
		}
		return next.Connect(ctx, c)
	})
}

// Mail is a smtpd.MailMiddleware: it refuses a MAIL command over
// MsgPerMinute for its client network or DomainPerMinute for its sender
// domain with 451 4.7.1 and otherwise runs next. A refused MAIL takes no
// token from the other limit.
func (l *Limiter) Mail(next smtpd.MailHandler) smtpd.MailHandler {
	return smtpd.MailFunc(func(ctx context.Context, env *smtpd.Envelope) error {
		l.init()
		if l.exempt(env.Conn.RemoteAddr.Addr()) {
			return callMail(ctx, next, env)
		}
		now := l.now()
		if !l.msgs.allow(Key(env.Conn.RemoteAddr.Addr()), now) {
			return smtpd.Errorf(451, smtpd.EnhancedCode{4, 7, 1}, "Too many messages from your network (at most %d a minute), try again later", limit(l.MsgPerMinute, DefaultMsgPerMinute))
		}
		if d := SenderDomain(env.From); d != "" && !l.domainTable.allow(d, now) {
			return smtpd.Errorf(451, smtpd.EnhancedCode{4, 7, 1}, "Too many messages from %s (at most %d a minute), try again later", d, limit(l.DomainPerMinute, DefaultDomainPerMinute))
		}
		return callMail(ctx, next, env)
	})
}

// callMail runs next, if any.
func callMail(ctx context.Context, next smtpd.MailHandler, env *smtpd.Envelope) error {
	if next == nil {
		return nil
	}
	return next.Mail(ctx, env)
}

// exempt reports whether ip is in Exempt.
func (l *Limiter) exempt(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	for _, p := range l.Exempt {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// SenderDomain returns the domain of a reverse-path as the domain limit
// counts it: after the last @, in lower case, without a trailing dot; ""
// for the null sender or a path without @.
func SenderDomain(from string) string {
	i := strings.LastIndexByte(from, '@')
	if i < 0 {
		return ""
	}
	return strings.TrimSuffix(strings.ToLower(from[i+1:]), ".")
}

func (l *Limiter) init() {
	l.once.Do(func() {
		maxKeys := limit(l.MaxKeys, DefaultMaxKeys)
		l.conns = newTable[netip.Prefix](l.ConnPerMinute, DefaultConnPerMinute, maxKeys)
		l.msgs = newTable[netip.Prefix](l.MsgPerMinute, DefaultMsgPerMinute, maxKeys)
		l.domainTable = newTable[string](l.DomainPerMinute, DefaultDomainPerMinute, maxKeys)
	})
}

func (l *Limiter) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// limit returns v, or def when v is zero (a negative v stays: no limit).
func limit(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// Len returns how many buckets the Limiter holds for each limit, for tests
// and metrics: client networks for connections, for messages, and sender
// domains.
func (l *Limiter) Len() (conns, msgs, domains int) {
	l.init()
	return l.conns.len(), l.msgs.len(), l.domainTable.len()
}
