package smtpd

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Defaults of the Server fields left at zero.
const (
	DefaultMaxMessageBytes      = 25 << 20 // 25 MiB
	DefaultMaxRecipients        = 100      // RFC 5321 §4.5.3.1.8
	DefaultMaxReceivedHeaders   = 50
	DefaultReadTimeout          = 5 * time.Minute // RFC 5321 §4.5.3.2.7
	DefaultOverloadReadTimeout  = 10 * time.Second
	DefaultDataTimeout          = 10 * time.Minute
	DefaultWriteTimeout         = time.Minute
	DefaultSessionTimeout       = 30 * time.Minute
	DefaultMaxConnections       = 1000
	DefaultMaxConnectionsPerIP  = 50
	DefaultIPv4PrefixLen        = 32
	DefaultIPv6PrefixLen        = 64
	DefaultMaxErrors            = 20
	DefaultMaxJunkCommands      = 100
	DefaultMaxEmptyTransactions = 10
	DefaultFreeSpaceReserve     = 64 << 20 // 64 MiB
)

// Server receives mail over SMTP. Set Rcpt and Data, then call
// ListenAndServe or Serve. The fields are read as connections and commands
// come, so a Server must not be changed while it serves. The zero value of
// each limit means its default; a negative value means no limit.
type Server struct {
	// Addr is the TCP address ListenAndServe listens on; default ":25".
	Addr string
	// Hostname is the server's name in the greeting, the EHLO reply and the
	// Received header; default os.Hostname().
	Hostname string
	// TLSConfig, when set, offers STARTTLS (RFC 3207). It is used for each
	// handshake as it is then: to renew a certificate without a restart,
	// set its GetCertificate to a function that returns the current one
	// (loaded anew when the files change, say); handshakes under way keep
	// the certificate they got.
	TLSConfig *tls.Config

	// MaxMessageBytes bounds a message, as advertised with SIZE (RFC 1870);
	// default 25 MiB. A message of exactly this size is accepted.
	MaxMessageBytes int64
	// MaxRecipients bounds the recipients of one message; default 100.
	MaxRecipients int
	// MaxReceivedHeaders is the most Received header fields a message may
	// arrive with before it is taken for a loop (554 5.4.6); default 50.
	MaxReceivedHeaders int

	// ReadTimeout is the time each command line and each line of a message
	// has to arrive whole, counted from the end of the line before it or
	// from the server's last reply; default 5 minutes.
	ReadTimeout time.Duration
	// OverloadReadTimeout takes the place of ReadTimeout, when shorter,
	// while the server is overloaded: from the moment it serves 80% of
	// MaxConnections until it serves fewer than 70%; default 10 seconds.
	// Idle and slow clients then make room for others, as in Postfix's
	// stress mode (where 300 seconds become 10). It applies at once to
	// the sessions already waiting for a line, whose deadlines move in
	// when the overload starts and out again when it ends. A negative
	// value means ReadTimeout always.
	OverloadReadTimeout time.Duration
	// DataTimeout bounds the transfer of one whole message; default 10
	// minutes.
	DataTimeout time.Duration
	// WriteTimeout bounds the sending of each reply; default 1 minute.
	WriteTimeout time.Duration
	// SessionTimeout bounds a whole connection; default 30 minutes.
	SessionTimeout time.Duration

	// MaxConnections bounds the connections served at once; default 1000.
	// Clients over it are told 421 and disconnected. Near it the server is
	// overloaded (see OverloadReadTimeout).
	MaxConnections int
	// MaxConnectionsPerIP bounds the connections served at once from one
	// client network (see IPv4PrefixLen and IPv6PrefixLen); default 50.
	// Clients over it are told 421 and disconnected.
	MaxConnectionsPerIP int
	// IPv4PrefixLen is how many leading bits of an IPv4 client address
	// MaxConnectionsPerIP counts by; default 32, each address on its own.
	// A negative value, or one over 32, also means 32.
	IPv4PrefixLen int
	// IPv6PrefixLen is how many leading bits of an IPv6 client address
	// MaxConnectionsPerIP counts by; default 64. A site is given a /64 at
	// least (RFC 6177) and may use any of its 2^64 addresses, so counting
	// each address on its own would let one network take every slot. A
	// negative value, or one over 128, means 128: each address on its own.
	// An IPv4 address seen through an IPv6 socket (::ffff:192.0.2.1)
	// counts as IPv4.
	IPv6PrefixLen int
	// MaxErrors is how many commands a session may get refused (4xx or
	// 5xx) before it is closed with 421, counted since the last accepted
	// message; default 20.
	MaxErrors int
	// MaxJunkCommands is how many commands that do nothing a session may
	// send since the last accepted message before it is closed with 421;
	// default 100. They are NOOP, RSET, VRFY, EXPN and HELP; EHLO and
	// HELO after the first (the one RFC 3207 requires after STARTTLS is a
	// first); and each MAIL whose transaction ends without a message:
	// refused at once (by FreeSpace or the Mail handler), reset by RSET,
	// EHLO or HELO, or its message refused. (STARTTLS is refused inside a transaction, and one
	// open when the session ends has nothing left to count against.)
	MaxJunkCommands int
	// MaxEmptyTransactions is how many transactions a session may open
	// (MAIL commands that pass the syntax checks, accepted or refused by
	// FreeSpace or the Mail handler) without one of them delivering a
	// message: the next MAIL is answered 421 4.7.0 and the session closed
	// before the Mail handler runs. It is counted since the last accepted message, whose
	// transaction counts no more; default 10. It bounds the work a client
	// that sends no mail can make the server do per connection: each
	// MAIL may cost an SPF check, that is DNS queries.
	MaxEmptyTransactions int

	// FreeSpace, if set, reports the room left, in bytes, where messages
	// are stored; the store package provides it (srv.FreeSpace =
	// boxes.FreeSpace). It is asked at each MAIL, before the Mail handler:
	// when it reports less than the size declared with SIZE= (or
	// MaxMessageBytes without one, or nothing when messages are
	// unlimited) plus FreeSpaceReserve, MAIL gets 452 4.3.1 Insufficient
	// system storage, as Postfix answers, and the client tries later; if
	// it fails, MAIL gets 451 4.3.0. Both are logged at WARN: no message
	// is taken that might not be stored.
	FreeSpace func(ctx context.Context) (int64, error)
	// FreeSpaceReserve is the room FreeSpace must report beyond the
	// message itself; default 64 MiB. The check at MAIL reserves nothing:
	// the sessions that pass it together write their messages together,
	// and the log, the spool and the store's temporary files share the
	// disk. 64 MiB keeps room for a couple of messages of the default
	// 25 MiB besides the one declared, and is little on any disk a mail
	// server runs on. A negative value means no reserve.
	FreeSpaceReserve int64

	// ProxyFrom lists the load balancers and proxies (HAProxy, a cloud
	// load balancer) that connect on behalf of clients and start each
	// connection with a PROXY protocol header, v1 or v2 (HAProxy's
	// proxy-protocol.txt). From them the header is required: a connection
	// without a valid one within ProxyHeaderTimeout is logged and closed.
	// The client's address it carries is then the connection's
	// RemoteAddr, which the Connect handler, SPF, MaxConnectionsPerIP and
	// the Received header see; a LOCAL header (a health check) keeps the
	// proxy's address. From any other address a PROXY header is not
	// believed: it is a command line like any other, answered 500. Nil
	// means no PROXY protocol at all. ConnState's StateNew still sees the
	// proxy's address: it is called before the header is read.
	ProxyFrom []netip.Prefix
	// ProxyHeaderTimeout bounds the wait for the PROXY header of a
	// connection from ProxyFrom; default 5 seconds. It is waited for on
	// the connection's own goroutine: a silent proxy connection delays no
	// other client.
	ProxyHeaderTimeout time.Duration

	// Connect, if set, runs before the greeting.
	Connect ConnectHandler
	// Mail, if set, is asked about each MAIL FROM.
	Mail MailHandler
	// Rcpt is asked about each RCPT TO. It is required, so that no server
	// relays by accident: see AcceptDomains.
	Rcpt RcptHandler
	// Data receives each message. It is required.
	Data DataHandler

	// ConnState, if set, is called as each connection changes state:
	// StateNew when it is accepted, before the caps and the Connect
	// handler have a say, and StateClosed once it has ended, whatever
	// ended it (QUIT, a 421, the client leaving, Close). Every connection
	// reported new is reported closed once, so per-client counters kept
	// here are always given back. It runs on the connection's goroutine,
	// for many connections at once: it must be safe for concurrent use and
	// quick. net/http's Server.ConnState is the model.
	ConnState func(*Conn, ConnState)

	// Logger receives one record per refused command and per accepted
	// message; default slog.Default(). Refusals are at INFO, but those
	// that are the server's fault (a handler's error that is not an
	// *Error, FreeSpace failing or short) are at WARN, and a handler's
	// panic at ERROR. Entering an overload is logged at WARN.
	Logger *slog.Logger

	// Observer, if set, receives the sessions' events for metrics.
	Observer *Observer

	inShutdown atomic.Bool
	overloaded atomic.Bool  // set and cleared under mu by updateOverload
	active     atomic.Int64 // sessions whose goroutine still runs
	mu         sync.Mutex
	listeners  map[*net.Listener]struct{}
	conns      map[*conn]struct{}
	perIP      map[netip.Prefix]int // by clientKey
	nconns     int
	hostOnce   sync.Once
	hostnameV  string
}

// ConnState is the state of a client connection, as Server.ConnState sees
// it.
type ConnState int

const (
	// StateNew is a connection just accepted: its session is about to
	// start.
	StateNew ConnState = iota
	// StateClosed is a connection whose session has ended and whose
	// socket is closed.
	StateClosed
)

// String returns "new" or "closed".
func (st ConnState) String() string {
	switch st {
	case StateNew:
		return "new"
	case StateClosed:
		return "closed"
	}
	return "ConnState(" + strconv.Itoa(int(st)) + ")"
}

// ListenAndServe listens on s.Addr and serves. It returns ErrServerClosed
// after Shutdown or Close.
func (s *Server) ListenAndServe() error {
	if err := s.check(); err != nil {
		return err
	}
	addr := s.Addr
	if addr == "" {
		addr = ":25"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("smtpd: listen on %s: %w", addr, err)
	}
	return s.Serve(l)
}

// Serve accepts connections on l and serves each on its own goroutine. It
// returns ErrServerClosed after Shutdown or Close, having closed l; a
// Serve called after them closes l at once. One Server may Serve several
// listeners at once, each Serve on its own goroutine (ports 25 and 2525,
// IPv4 and IPv6): they share the handlers, the limits and the connection
// caps, and Shutdown and Close stop them all. An error of Accept that may
// pass (too many open files, a connection aborted before it was accepted)
// is logged and Accept tried again after a pause that doubles up to a
// second, as net/http does; any other ends Serve with that error.
func (s *Server) Serve(l net.Listener) error {
	if err := s.check(); err != nil {
		return err
	}
	l = &onceCloseListener{Listener: l}
	defer l.Close()
	if !s.trackListener(&l, true) {
		return ErrServerClosed
	}
	defer s.trackListener(&l, false)

	var pause time.Duration
	for {
		raw, err := l.Accept()
		if err != nil {
			if s.inShutdown.Load() {
				return ErrServerClosed
			}
			if !isTemporaryAccept(err) {
				return fmt.Errorf("smtpd: accept: %w", err)
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			s.logger().Warn("accept failed; trying again", "err", err, "pause", pause)
			time.Sleep(pause)
			continue
		}
		pause = 0
		c := s.newConn(raw)
		go c.serve()
	}
}

// isTemporaryAccept reports whether an error of Accept may pass: the
// process or the system is out of file descriptors or memory for a moment,
// or a client gave up before its connection was accepted.
func isTemporaryAccept(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EINTR} {
		if errors.Is(err, e) {
			return true
		}
	}
	return isTimeout(err)
}

// trackListener adds or removes a listener being served, under the lock
// Shutdown and Close take to close them: no Serve can start listening
// after they have looked. Adding fails once the server is shutting down.
func (s *Server) trackListener(l *net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	if !add {
		delete(s.listeners, l)
		return true
	}
	if s.inShutdown.Load() {
		return false
	}
	s.listeners[l] = struct{}{}
	return true
}

// onceCloseListener closes its listener once, whether Serve or Shutdown
// gets there first.
type onceCloseListener struct {
	net.Listener
	once sync.Once
	err  error
}

func (l *onceCloseListener) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}

// check refuses a Server that would relay or drop mail.
func (s *Server) check() error {
	if s.Rcpt == nil {
		return errors.New("smtpd: Server.Rcpt is nil: without a Rcpt handler the server would take mail for any domain (set it, e.g. to smtpd.AcceptDomains(\"example.com\"))")
	}
	if s.Data == nil {
		return errors.New("smtpd: Server.Data is nil: set a DataHandler to receive messages")
	}
	return nil
}

// init makes the maps, once; s.mu is held.
func (s *Server) init() {
	if s.conns == nil {
		s.listeners = make(map[*net.Listener]struct{})
		s.conns = make(map[*conn]struct{})
		s.perIP = make(map[netip.Prefix]int)
	}
}

// Shutdown stops the server gracefully: it stops listening, closes the
// sessions that wait between transactions with 421, lets those inside a
// transaction finish it (their next command gets 421) and returns when
// every session has ended. If ctx ends first it returns ctx's error;
// Close then ends the rest.
func (s *Server) Shutdown(ctx context.Context) error {
	s.inShutdown.Store(true)
	s.closeListeners()
	for _, c := range s.connList() {
		c.interrupt()
	}
	// Polled, as net/http does: sessions end at their own pace, and the
	// poll stops as soon as ctx does.
	pause := time.Millisecond
	timer := time.NewTimer(pause)
	defer timer.Stop()
	for s.active.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			pause = min(2*pause, 100*time.Millisecond)
			timer.Reset(pause)
		}
	}
	return nil
}

// Close stops the server at once: listeners and connections are closed.
// It does not wait for the sessions' goroutines to end.
func (s *Server) Close() error {
	s.inShutdown.Store(true)
	err := s.closeListeners()
	for _, c := range s.connList() {
		c.Close()
	}
	return err
}

// closeListeners closes the listeners being served and returns the first
// error.
func (s *Server) closeListeners() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first error
	for l := range s.listeners {
		if err := (*l).Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (s *Server) connList() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		list = append(list, c)
	}
	return list
}

// newConn registers a connection and counts it against the caps; a client
// over a cap is refused at the greeting. Its session is to be served.
func (s *Server) newConn(raw net.Conn) *conn {
	remote := addrPort(raw.RemoteAddr())
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{
		srv:    s,
		tcp:    raw,
		rw:     raw,
		ctx:    ctx,
		cancel: cancel,
		info: Conn{
			ID:         newID(),
			RemoteAddr: remote,
			LocalAddr:  addrPort(raw.LocalAddr()),
		},
		clientKey: s.clientKey(remote.Addr()),
		proxied:   s.proxyTrusted(remote.Addr()),
	}
	c.br = readerPool.Get().(*bufio.Reader)
	c.br.Reset(socketReader{c})
	c.bw = writerPool.Get().(*bufio.Writer)
	c.bw.Reset(socketWriter{c})
	now := time.Now()
	c.lineStart, c.sessionEnd = now, now.Add(s.sessionTimeout())
	s.active.Add(1)

	s.mu.Lock()
	s.init()
	s.conns[c] = struct{}{}
	s.nconns++
	if s.nconns > s.maxConnections() {
		c.refusal = Errorf(421, EnhancedCode{4, 7, 0}, "%s Too many connections, try again later", s.hostname())
	}
	if !c.proxied { // counted once its PROXY header says who the client is
		s.countClient(c)
	}
	changed := s.updateOverload()
	s.mu.Unlock()
	if changed {
		s.overloadChanged()
	}
	return c
}

// countClient counts c under MaxConnectionsPerIP by its clientKey and
// refuses it when its network is over the cap; s.mu is held.
func (s *Server) countClient(c *conn) {
	c.countedPerIP = true
	s.perIP[c.clientKey]++
	if c.refusal == nil && s.perIP[c.clientKey] > s.maxConnectionsPerIP() {
		c.refusal = Errorf(421, EnhancedCode{4, 7, 0}, "%s Too many connections from your network, try again later", s.hostname())
	}
}

func (s *Server) releaseSlot(c *conn) {
	s.mu.Lock()
	s.nconns--
	if key := c.clientKey; c.countedPerIP {
		if s.perIP[key]--; s.perIP[key] <= 0 {
			delete(s.perIP, key)
		}
	}
	changed := s.updateOverload()
	s.mu.Unlock()
	if changed {
		s.overloadChanged()
	}
}

// The server is overloaded from the moment it serves overloadEnter percent
// of MaxConnections until it serves fewer than overloadLeave percent. The
// gap keeps a load that hovers at one threshold from flipping the state at
// each connection: every flip wakes every session.
const (
	overloadEnter = 80
	overloadLeave = 70
)

// updateOverload sets s.overloaded from the number of connections and
// reports whether it changed. s.mu is held.
func (s *Server) updateOverload() bool {
	if s.OverloadReadTimeout < 0 {
		return false
	}
	n, max := float64(s.nconns), float64(s.maxConnections())
	over := s.overloaded.Load()
	switch {
	case !over && n >= max*overloadEnter/100:
	case over && n < max*overloadLeave/100:
	default:
		return false
	}
	s.overloaded.Store(!over)
	return true
}

// overloadChanged logs the new state and has every session waiting for a
// line set its deadline again with the read timeout now in force.
func (s *Server) overloadChanged() {
	if s.overloaded.Load() {
		s.logger().Warn("overloaded: read timeout shortened", "max_connections", s.maxConnections(), "read_timeout", s.activeReadTimeout())
	} else {
		s.logger().Info("no longer overloaded", "read_timeout", s.activeReadTimeout())
	}
	for _, c := range s.connList() {
		c.interrupt()
	}
}

// clientKey returns the network a client's connections are counted under
// for MaxConnectionsPerIP: its address cut to IPv4PrefixLen or
// IPv6PrefixLen bits, an IPv4-mapped IPv6 address as IPv4, without zone.
func (s *Server) clientKey(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap().WithZone("")
	bits := prefixLen(s.IPv4PrefixLen, DefaultIPv4PrefixLen, 32)
	if ip.Is6() {
		bits = prefixLen(s.IPv6PrefixLen, DefaultIPv6PrefixLen, 128)
	}
	p, _ := ip.Prefix(bits) // the zero Addr, of no socket, gives the zero Prefix
	return p
}

// prefixLen returns v, def when v is zero, or max when v is negative or
// over max.
func prefixLen(v, def, max int) int {
	if v < 0 || v > max {
		return max
	}
	return limit(v, def, max)
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// addrPort returns a's address and port, with an IPv4 address seen
// through an IPv6 socket (::ffff:192.0.2.1) as plain IPv4.
func addrPort(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	if t, ok := a.(*net.TCPAddr); ok {
		ap = t.AddrPort()
	} else {
		ap, _ = netip.ParseAddrPort(a.String())
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// newID returns a short random name for a connection.
func newID() string {
	var b [5]byte
	rand.Read(b[:])
	return base32.StdEncoding.EncodeToString(b[:])
}

func (s *Server) hostname() string {
	if s.Hostname != "" {
		return s.Hostname
	}
	s.hostOnce.Do(func() {
		s.hostnameV, _ = os.Hostname()
		if s.hostnameV == "" {
			s.hostnameV = "localhost"
		}
	})
	return s.hostnameV
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// limit returns v, def when v is zero, or an unreachable bound when v < 0.
func limit[T int | int64 | time.Duration](v, def, none T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return none
	}
	return v
}

const forever = 100 * 365 * 24 * time.Hour

func (s *Server) maxMessageBytes() int64 {
	return limit(s.MaxMessageBytes, DefaultMaxMessageBytes, 0)
}
func (s *Server) maxRecipients() int { return limit(s.MaxRecipients, DefaultMaxRecipients, 1<<30) }
func (s *Server) maxReceivedHeaders() int {
	return limit(s.MaxReceivedHeaders, DefaultMaxReceivedHeaders, 0)
}
func (s *Server) readTimeout() time.Duration {
	return limit(s.ReadTimeout, DefaultReadTimeout, forever)
}

// activeReadTimeout is the read timeout in force: ReadTimeout, or
// OverloadReadTimeout while overloaded if it is shorter.
func (s *Server) activeReadTimeout() time.Duration {
	d := s.readTimeout()
	if s.overloaded.Load() {
		d = min(d, limit(s.OverloadReadTimeout, DefaultOverloadReadTimeout, forever))
	}
	return d
}
func (s *Server) dataTimeout() time.Duration {
	return limit(s.DataTimeout, DefaultDataTimeout, forever)
}
func (s *Server) writeTimeout() time.Duration {
	return limit(s.WriteTimeout, DefaultWriteTimeout, forever)
}
func (s *Server) sessionTimeout() time.Duration {
	return limit(s.SessionTimeout, DefaultSessionTimeout, forever)
}
func (s *Server) maxConnections() int { return limit(s.MaxConnections, DefaultMaxConnections, 1<<30) }
func (s *Server) maxConnectionsPerIP() int {
	return limit(s.MaxConnectionsPerIP, DefaultMaxConnectionsPerIP, 1<<30)
}
func (s *Server) maxErrors() int { return limit(s.MaxErrors, DefaultMaxErrors, 1<<30) }
func (s *Server) maxJunkCommands() int {
	return limit(s.MaxJunkCommands, DefaultMaxJunkCommands, 1<<30)
}
func (s *Server) freeSpaceReserve() int64 {
	return limit(s.FreeSpaceReserve, DefaultFreeSpaceReserve, 0)
}
func (s *Server) maxEmptyTransactions() int {
	return limit(s.MaxEmptyTransactions, DefaultMaxEmptyTransactions, 1<<30)
}
