package postfixtest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
)

// inUse counts, per address, the instances of this process listening on
// it, so that each instance gets an address of its own unless the test
// asks for one.
var inUse = struct {
	sync.Mutex
	count map[netip.Addr]int
}{count: map[netip.Addr]int{}}

// pickAddr returns where an instance listens: ip, or else a loopback
// address 127.0.0.x (x from 2 to 254) that no other instance of this
// process uses, with port, or else a port free there now. release gives
// the address back.
func pickAddr(ip netip.Addr, port int) (addr netip.AddrPort, release func(), err error) {
	inUse.Lock()
	defer inUse.Unlock()
	candidates := []netip.Addr{ip}
	if !ip.IsValid() {
		// Start at a random x, so that test processes running at the same
		// time mostly use different addresses too.
		first := rand.IntN(253)
		candidates = candidates[:0]
		for i := range 253 {
			c := netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + (first+i)%253)})
			if inUse.count[c] == 0 {
				candidates = append(candidates, c)
			}
		}
	}
	var lastErr error
	for _, c := range candidates {
		// Postfix binds the port after this listener is closed; another
		// process may take it in between, which Start notices and retries.
		l, err := net.Listen("tcp4", netip.AddrPortFrom(c, uint16(port)).String())
		if err != nil {
			lastErr = err
			continue
		}
		addr = netip.MustParseAddrPort(l.Addr().String())
		l.Close()
		inUse.count[c]++
		return addr, func() {
			inUse.Lock()
			defer inUse.Unlock()
			if inUse.count[c]--; inUse.count[c] == 0 {
				delete(inUse.count, c)
			}
		}, nil
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("all of 127.0.0.2 to 127.0.0.254 are in use by this process")
	}
	return netip.AddrPort{}, nil, fmt.Errorf("postfixtest: no address to listen on (port %d): %w", port, lastErr)
}
