package dnsx

import (
	"context"
	"errors"
	"net"
)

// ErrNullMX is returned by [LookupMX] when the domain publishes a null MX
// record ("MX 0 ."), saying that it accepts no mail at all (RFC 7505 §3).
var ErrNullMX = errors.New("dnsx: null MX: the domain accepts no mail (RFC 7505)")

// Texts of the errors this package makes. They follow the net package's
// wording where one exists, so that messages read the same whichever
// resolver produced them.
const (
	errNoSuchHost   = "no such host"
	errNoRecords    = "no such record"
	errTimeout      = "i/o timeout"
	errServFail     = "server failure (SERVFAIL)"
	errRefused      = "query refused (REFUSED)"
	errBadName      = "invalid domain name"
	errBadAddress   = "unrecognized address"
	errBadReply     = "malformed reply"
	errTooManyNames = "too many CNAME records"
)

// IsTemporary reports whether err is a DNS failure that may go away if the
// query is repeated later: a timeout, SERVFAIL, REFUSED, or a network
// error. Mail receivers answer such failures with a 4xx reply, never 5xx.
// It looks for a *net.DNSError in err's chain.
func IsTemporary(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && (de.IsTemporary || de.IsTimeout)
}

// IsNotFound reports whether err says that the name does not exist
// (NXDOMAIN) or has no records of the asked type. It looks for a
// *net.DNSError in err's chain.
func IsNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// notFound is the error for NXDOMAIN (nxdomain true) or NODATA.
func notFound(name, server string, nxdomain bool) *net.DNSError {
	msg := errNoRecords
	if nxdomain {
		msg = errNoSuchHost
	}
	return &net.DNSError{Err: msg, Name: name, Server: server, IsNotFound: true}
}

// temporary is the error for a failure worth retrying; cause may be nil.
func temporary(name, server, msg string, cause error) *net.DNSError {
	return &net.DNSError{Err: msg, Name: name, Server: server, IsTemporary: true, UnwrapErr: cause}
}

// invalidName is the error for a name that is not a domain name and so
// cannot be put in a query: an empty label, a label over 63 octets or a name
// over 255 octets in wire form (RFC 1035 §2.3.4, §3.1), or anything else
// miekg/dns cannot pack. No server could ever answer it, so it is a
// permanent not-found, never temporary, as *net.Resolver reports it.
// RFC 7208 §4.3 and the RFC 7208 test suite expect an SPF check to treat
// such a name as having no records, not to end in temperror.
func invalidName(name, server string) *net.DNSError {
	return &net.DNSError{Err: errBadName, Name: name, Server: server, IsNotFound: true}
}

// permanent is the error for a question that cannot be asked for another
// reason than its name, such as a malformed address or a record type a
// resolver cannot ask for: neither temporary nor not-found.
func permanent(name, server, msg string) *net.DNSError {
	return &net.DNSError{Err: msg, Name: name, Server: server}
}

// failure turns err into a *net.DNSError for name: kept as it is when it is
// one already, a timeout when it is a deadline or a network timeout, and a
// temporary failure otherwise.
func failure(name, server string, err error) *net.DNSError {
	var de *net.DNSError
	if errors.As(err, &de) {
		return de
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &net.DNSError{Err: errTimeout, Name: name, Server: server,
			IsTimeout: true, IsTemporary: true, UnwrapErr: err}
	}
	return temporary(name, server, err.Error(), err)
}
