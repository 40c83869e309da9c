package smtpd

import (
	"bufio"
	"net/netip"
	"time"

	"github.com/pires/go-proxyproto"
)

// DefaultProxyHeaderTimeout is the default of Server.ProxyHeaderTimeout.
const DefaultProxyHeaderTimeout = 5 * time.Second

// proxyTrusted reports whether a peer is one of Server.ProxyFrom, whose
// connections start with a PROXY protocol header.
func (s *Server) proxyTrusted(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	for _, p := range s.ProxyFrom {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (s *Server) proxyHeaderTimeout() time.Duration {
	return limit(s.ProxyHeaderTimeout, DefaultProxyHeaderTimeout, forever)
}

// maxV1Header is the longest v1 header, its CRLF included
// (proxy-protocol.txt §2.1).
const maxV1Header = 107

// bufferV1Line waits until the whole line of a v1 header is in br's
// buffer, or 107 bytes without its end, or the read fails. go-proxyproto
// refuses a v1 header that did not come in one read, a defence against
// slow senders; the PROXY spec recommends tolerating headers split across
// packets, and here the connection's deadline (ProxyHeaderTimeout) already
// bounds a slow sender. Each Peek asks for one byte more than the line so
// far, so nothing past the header is waited for.
func bufferV1Line(br *bufio.Reader) {
	for n := 1; n <= maxV1Header; n++ {
		b, err := br.Peek(n)
		if err != nil {
			return // go-proxyproto reads the same error and reports it
		}
		if n <= len("PROXY") && b[n-1] != "PROXY"[n-1] {
			return // no v1 header: v2, or no header at all
		}
		if b[n-1] == '\n' {
			return
		}
	}
}

// readProxyHeader reads the PROXY protocol header (v1 or v2, as HAProxy's
// proxy-protocol.txt defines them) a trusted proxy starts its connection
// with, within ProxyHeaderTimeout, on the connection's own goroutine. The
// client's address and the address it connected to then replace the
// proxy's; a v2 LOCAL header (the proxy's own health check) and a v1
// UNKNOWN one keep the proxy's, as the spec says. The client is counted
// under MaxConnectionsPerIP by its own address. It reports whether the
// session goes on: a connection without a valid header is logged and
// closed without a reply, since what it sent came from no known client.
func (c *conn) readProxyHeader() bool {
	c.proxyEnd = time.Now().Add(c.srv.proxyHeaderTimeout())
	bufferV1Line(c.br)
	h, err := proxyproto.Read(c.br)
	c.proxyEnd = time.Time{}
	if err != nil {
		c.logger().Warn("connection from a trusted proxy without a valid PROXY protocol header; closed", "err", err)
		c.setCloseReason(CloseProtocol)
		c.closing = true
		return false
	}
	if h.Command.IsProxy() {
		if src, dst, ok := h.TCPAddrs(); ok {
			c.info.RemoteAddr = addrPort(src)
			c.info.LocalAddr = addrPort(dst)
			c.log = nil // made again with the client's address
		}
	}
	s := c.srv
	s.mu.Lock()
	if !c.released.Load() { // else Close has given its place back already
		c.clientKey = s.clientKey(c.info.RemoteAddr.Addr())
		s.countClient(c)
	}
	s.mu.Unlock()
	return true
}
