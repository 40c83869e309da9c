// Package dnstest runs a real DNS server on the loopback interface for tests,
// the way net/http/httptest runs an HTTP server.
//
// The server listens on 127.0.0.1 with UDP and TCP on the same port and
// answers authoritatively from zone text given by the test, written in the
// RFC 1035 §5 master file syntax. Point a resolver at [Server.Addr], for
// example with dnsx.NewResolver(srv.Addr), and nothing reaches the machine's
// resolver or the internet.
//
// Names match without regard to ASCII case (RFC 4343) or how their bytes
// are written: "a\032b", "a\ b" and a name with a raw space are one name.
// Answers follow RFC 1034 §4.3.2 closely enough for mail tests: CNAME chains
// inside the zone are followed, a name that does not exist gets NXDOMAIN and a
// name without records of the asked type gets an empty NOERROR answer
// (NODATA), both with the enclosing zone's SOA record in the authority section
// so that resolvers may cache them (RFC 2308 §3). Wildcards, delegations and
// DNSSEC are not served. UDP answers larger than the client's buffer (512
// bytes, or the EDNS0 size it advertises) are truncated with the TC bit set,
// so clients retry over TCP.
package dnstest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// maxChain bounds how many CNAME records one answer follows.
const maxChain = 8

// DefaultTTL is the TTL, in seconds, of a zone record that has none and
// follows no $TTL line or record with one: one hour.
const DefaultTTL = 3600

// Server is a DNS server on 127.0.0.1 serving one fixed set of records.
// Its methods are safe for concurrent use.
type Server struct {
	// Addr is the server's address, "127.0.0.1:port", for UDP and TCP alike.
	Addr string

	records map[string][]dns.RR // by canonical owner name
	nodes   map[string]bool     // owner names and all their ancestors
	soas    []*dns.SOA

	mu      sync.Mutex
	rcodes  map[string]int  // names made to fail with an rcode
	silent  map[string]bool // names that never get an answer
	queries map[query]int

	done      chan struct{} // closed by Close: releases silent handlers
	closeOnce sync.Once
	udp, tcp  *dns.Server
	served    chan error // one value per dns.Server when it stops
}

type query struct {
	name  string
	qtype uint16
}

// NewServer starts a server answering from zone, which holds resource
// records in RFC 1035 master file syntax. Owner names must be absolute
// ("mx.example.com.") or made so by a $ORIGIN line. A record without a TTL
// takes the one of the last $TTL line (RFC 2308 §4), else of the last
// record that gave one (RFC 1035 §5.1), else DefaultTTL, one hour. Include
// an SOA record at each zone apex: negative answers carry it, and without
// it resolvers do not cache them (RFC 2308 §5).
//
// NewServer fails the test if the zone does not parse or the server cannot
// listen. The server is closed by t.Cleanup when the test ends.
func NewServer(t testing.TB, zone string) *Server {
	t.Helper()
	s, err := Start(zone)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Start is NewServer for code that has no testing.TB, such as Example
// functions: it returns an error instead of failing a test, and the caller
// must call Close.
func Start(zone string) (*Server, error) {
	s := &Server{
		records: make(map[string][]dns.RR),
		nodes:   make(map[string]bool),
		rcodes:  make(map[string]int),
		silent:  make(map[string]bool),
		queries: make(map[query]int),
		done:    make(chan struct{}),
		served:  make(chan error, 2),
	}
	if err := s.load(zone); err != nil {
		return nil, fmt.Errorf("dnstest: %w", err)
	}
	pc, l, err := listen()
	if err != nil {
		return nil, fmt.Errorf("dnstest: %w", err)
	}
	s.Addr = pc.LocalAddr().String()
	s.udp = s.start(&dns.Server{PacketConn: pc})
	s.tcp = s.start(&dns.Server{Listener: l})
	return s, nil
}

// listen opens UDP and TCP sockets on one loopback port. The UDP port is
// chosen by the kernel; if its TCP twin is taken, it tries another, a few
// times.
func listen() (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return nil, nil, fmt.Errorf("listen on udp 127.0.0.1:0: %w", err)
		}
		l, err := net.Listen("tcp4", pc.LocalAddr().String())
		if err == nil {
			return pc, l, nil
		}
		pc.Close()
		lastErr = err
	}
	return nil, nil, fmt.Errorf("listen on tcp beside udp on 127.0.0.1: %w", lastErr)
}

// start serves on srv in a goroutine and returns once it is serving.
func (s *Server) start(srv *dns.Server) *dns.Server {
	started := make(chan struct{})
	srv.Handler = dns.HandlerFunc(s.serve)
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { s.served <- srv.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-s.served:
		// ActivateAndServe failed before serving; report it on Close.
		s.served <- err
		close(started)
	}
	return srv
}

// Close stops the server and waits until it has stopped. Queries to names
// made to time out are dropped. Close may be called more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.udp.ShutdownContext(ctx)
		s.tcp.ShutdownContext(ctx)
		for range 2 {
			select {
			case <-s.served:
			case <-ctx.Done():
				return
			}
		}
	})
}

// ServFail makes every query for name answer SERVFAIL (RFC 1035 §4.1.1),
// which resolvers treat as a temporary failure.
func (s *Server) ServFail(name string) { s.setRcode(name, dns.RcodeServerFailure) }

// Refuse makes every query for name answer REFUSED (RFC 1035 §4.1.1).
func (s *Server) Refuse(name string) { s.setRcode(name, dns.RcodeRefused) }

func (s *Server) setRcode(name string, rcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name = canonical(name)
	delete(s.silent, name)
	s.rcodes[name] = rcode
}

// Timeout makes the server drop every query for name without an answer, over
// UDP and TCP, so that clients time out.
func (s *Server) Timeout(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name = canonical(name)
	delete(s.rcodes, name)
	s.silent[name] = true
}

// Restore undoes ServFail, Refuse and Timeout for name: it is answered from
// the zone again.
func (s *Server) Restore(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name = canonical(name)
	delete(s.rcodes, name)
	delete(s.silent, name)
}

// Queries reports how many queries for name with type qtype (dns.TypeA,
// dns.TypeMX, ...) the server has received, over UDP and TCP together,
// answered or not. A qtype of 0 counts queries of every type for name.
// Names are compared without regard to ASCII case, escapes (RFC 1035 §5.1)
// or a final dot.
func (s *Server) Queries(name string, qtype uint16) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	name = canonical(name)
	if qtype != 0 {
		return s.queries[query{name, qtype}]
	}
	n := 0
	for q, c := range s.queries {
		if q.name == name {
			n += c
		}
	}
	return n
}

// load parses the zone text into the server's records.
func (s *Server) load(zone string) error {
	zp := dns.NewZoneParser(strings.NewReader(zone), "", "zone")
	zp.SetDefaultTTL(DefaultTTL)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		h := rr.Header()
		h.Name = canonical(h.Name)
		s.records[h.Name] = append(s.records[h.Name], rr)
		for off, end := 0, false; !end; off, end = dns.NextLabel(h.Name, off) {
			s.nodes[h.Name[off:]] = true
		}
		if soa, ok := rr.(*dns.SOA); ok {
			s.soas = append(s.soas, soa)
		}
	}
	if err := zp.Err(); err != nil {
		return fmt.Errorf("parse zone: %w", err)
	}
	return nil
}

// serve answers one query.
func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg) {
	resp := new(dns.Msg)
	if len(req.Question) != 1 {
		resp.SetRcodeFormatError(req)
		w.WriteMsg(resp)
		return
	}
	q := req.Question[0]
	name := canonical(q.Name)

	s.mu.Lock()
	s.queries[query{name, q.Qtype}]++
	rcode, failing := s.rcodes[name]
	silent := s.silent[name]
	s.mu.Unlock()

	if silent {
		// Hold the query until Close, so that neither transport answers
		// and a TCP connection is not closed under the client.
		<-s.done
		return
	}
	if failing {
		resp.SetRcode(req, rcode)
		w.WriteMsg(resp)
		return
	}

	resp.SetReply(req)
	resp.Authoritative = true
	s.answer(resp, name, q.Qtype)

	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = max(int(opt.UDPSize()), dns.MinMsgSize)
			resp.SetEdns0(opt.UDPSize(), false)
		}
		resp.Truncate(size)
	}
	w.WriteMsg(resp)
}

// answer fills resp for a question about name and qtype.
func (s *Server) answer(resp *dns.Msg, name string, qtype uint16) {
	for range maxChain {
		rrs := s.records[name]
		var cname *dns.CNAME
		found := false
		for _, rr := range rrs {
			if c, ok := rr.(*dns.CNAME); ok && qtype != dns.TypeCNAME {
				cname = c
			}
			if rr.Header().Rrtype == qtype || qtype == dns.TypeANY {
				resp.Answer = append(resp.Answer, dns.Copy(rr))
				found = true
			}
		}
		if found {
			return
		}
		if cname == nil {
			break
		}
		resp.Answer = append(resp.Answer, dns.Copy(cname))
		name = canonical(cname.Target)
	}
	if !s.nodes[name] {
		resp.Rcode = dns.RcodeNameError
	}
	if soa := s.soaFor(name); soa != nil {
		resp.Ns = append(resp.Ns, dns.Copy(soa))
	}
}

// soaFor returns the SOA record of the innermost zone holding name, or nil.
func (s *Server) soaFor(name string) *dns.SOA {
	var best *dns.SOA
	for _, soa := range s.soas {
		if dns.IsSubDomain(soa.Hdr.Name, name) &&
			(best == nil || dns.CountLabel(soa.Hdr.Name) > dns.CountLabel(best.Hdr.Name)) {
			best = soa
		}
	}
	return best
}

// canonical returns the one spelling of name that the server's maps use:
// its wire form written back as miekg/dns writes names, so that escaped and
// unescaped spellings of a byte agree (RFC 1035 §5.1), with ASCII letters
// in lower case (RFC 4343 §3) and a final dot. Other bytes are kept:
// dns.CanonicalName would turn those that are not UTF-8 into U+FFFD.
func canonical(name string) string {
	var buf [256]byte
	if n, err := dns.PackDomainName(dns.Fqdn(name), buf[:], 0, nil, false); err == nil {
		if s, _, err := dns.UnpackDomainName(buf[:n], 0); err == nil {
			name = s
		}
	}
	b := []byte(name)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
