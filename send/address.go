package send

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/ownmx/ownmx/smtpd"
)

// envelope is what Send makes of its from and to.
type envelope struct {
	from, to string // as sent in MAIL FROM and RCPT TO
	domain   string // the recipient's domain in A-labels, lower case, for DNS and MTA-STS
	utf8     bool   // SMTPUTF8 is needed (RFC 6531 §3.4)
}

// newEnvelope checks from and to and says how to send them. An address
// whose local part is ASCII is sent with its domain in A-labels
// (RFC 5890), so that it needs no SMTPUTF8; one with a non-ASCII local
// part can only travel with SMTPUTF8, and is sent as given.
func newEnvelope(from, to string) (envelope, *Error) {
	bad := func(enhanced smtpd.EnhancedCode, format string, args ...any) (envelope, *Error) {
		return envelope{}, &Error{Rcpt: to, Enhanced: enhanced, Message: fmt.Sprintf(format, args...), Permanent: true, final: true}
	}
	var env envelope
	if from != "" {
		f, utf8, _, problem := mailbox(from)
		if problem != "" {
			// 5.1.7: bad sender's mailbox address syntax (RFC 3463).
			return bad(smtpd.EnhancedCode{5, 1, 7}, "sender <%s>: %s", from, problem)
		}
		env.from, env.utf8 = f, utf8
	}
	t, utf8, domain, problem := mailbox(to)
	if problem != "" {
		// 5.1.3: bad destination mailbox address syntax.
		return bad(smtpd.EnhancedCode{5, 1, 3}, "recipient <%s>: %s", to, problem)
	}
	env.to, env.domain = t, domain
	env.utf8 = env.utf8 || utf8
	return env, nil
}

// mailbox checks one address, local-part@domain (RFC 5321 §4.1.2), and
// returns the form to send, whether it needs SMTPUTF8, and its domain in
// A-labels; or what is wrong with it.
func mailbox(addr string) (send string, needUTF8 bool, domain string, problem string) {
	if !utf8.ValidString(addr) {
		return "", false, "", "the address is not valid UTF-8"
	}
	for _, r := range addr {
		if r < 0x20 || r == 0x7f || r == '<' || r == '>' {
			return "", false, "", "control character or angle bracket in the address"
		}
	}
	local, dom, ok := smtpd.SplitAddress(addr)
	if !ok || local == "" || dom == "" {
		return "", false, "", "not local-part@domain"
	}
	if strings.HasPrefix(dom, "[") {
		// An address literal names a host directly (RFC 5321 §4.1.3).
		// Mail to one would bypass DNS, MTA-STS and the MX checks, and
		// reach any address a sender writes, internal ones included.
		return "", false, "", "address literals are not supported"
	}
	a, err := smtpd.ToASCII(strings.TrimSuffix(dom, "."))
	if err != nil || !isDomainName(a) {
		return "", false, "", "the domain is not a valid domain name"
	}
	if isASCII(local) {
		if isASCII(dom) {
			return addr, false, a, ""
		}
		return local + "@" + a, false, a, ""
	}
	return addr, true, a, ""
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// isDomainName reports whether name, in A-labels, can be looked up: labels
// of 1 to 63 octets, 253 in all (RFC 1035 §2.3.4).
func isDomainName(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
	}
	return true
}
