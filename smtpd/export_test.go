package smtpd

import "net/netip"

// ClientKey is Server.clientKey, for the tests of package smtpd_test.
func ClientKey(s *Server, ip netip.Addr) netip.Prefix { return s.clientKey(ip) }
