package auth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestSPF(t *testing.T) {
	c, srv := newChecker(t)
	srv.ServFail("servfail.example.com")
	srv.Timeout("slow.example.com")
	srv.ServFail("broken.example.com")

	for _, tc := range []struct {
		section, name  string
		ip             netip.Addr
		helo, mailFrom string
		want           Result
		wantDomain     string
	}{
		{"RFC 7208 §2.6.3", "pass", ip1, "mta.example.com", "alice@example.com", Pass, "example.com"},
		{"RFC 7208 §2.6.3", "pass for an IPv4-mapped IPv6 client", netip.MustParseAddr("::ffff:192.0.2.1"), "mta.example.com", "alice@example.com", Pass, "example.com"},
		{"RFC 7208 §2.6.3", "pass, domain case and final dot ignored", ip1, "mta.example.com", "alice@EXAMPLE.com.", Pass, "example.com"},
		{"RFC 7208 §2.6.4", "fail", ipX, "mta.example.com", "alice@example.com", Fail, "example.com"},
		{"RFC 7208 §2.6.5", "softfail", ipX, "mta.example.com", "alice@soft.example.com", SoftFail, "soft.example.com"},
		{"RFC 7208 §2.6.2", "neutral", ipX, "mta.example.com", "alice@neutral.example.com", Neutral, "neutral.example.com"},
		{"RFC 7208 §2.6.1", "none: no record", ip1, "mta.example.com", "alice@norecord.example.com", None, "norecord.example.com"},
		{"RFC 7208 §2.6.1", "none: no such domain", ip1, "mta.example.com", "alice@nowhere.example.org", None, "nowhere.example.org"},
		{"RFC 7208 §4.3", "none: single-label domain", ip1, "mta.example.com", "alice@localhost", None, "localhost"},
		{"RFC 7208 §4.3", "none: MAIL FROM without domain", ip1, "mta.example.com", "alice", None, ""},
		{"RFC 7208 §2.4", "null sender checked via HELO: pass", netip.MustParseAddr("192.0.2.3"), "helo.example.com", "", Pass, "helo.example.com"},
		{"RFC 7208 §2.4", "null sender checked via HELO: fail", ipX, "helo.example.com", "", Fail, "helo.example.com"},
		{"RFC 7208 §2.4", "null sender with an address literal HELO: none", ipX, "[203.0.113.250]", "", None, "[203.0.113.250]"},
		{"RFC 7208 §4.3", "quoted local part holding @", ip1, "mta.example.com", `"a@b"@example.com`, Pass, "example.com"},
		{"RFC 7208 §2.6.6", "temperror: SERVFAIL", ip1, "mta.example.com", "alice@servfail.example.com", TempError, "servfail.example.com"},
		{"RFC 7208 §2.6.6", "temperror: DNS timeout", ip1, "mta.example.com", "alice@slow.example.com", TempError, "slow.example.com"},
		{"RFC 7208 §2.6.6", "temperror: SERVFAIL in an include", ipX, "mta.example.com", "alice@inc.example.com", TempError, "inc.example.com"},
		{"RFC 7208 §2.6.7", "permerror: two records", ip1, "mta.example.com", "alice@twospf.example.com", PermError, "twospf.example.com"},
		{"RFC 7208 §2.6.7", "permerror: unknown mechanism", ipX, "mta.example.com", "alice@badspf.example.com", PermError, "badspf.example.com"},
		{"RFC 7208 §2.6.7", "permerror: no client address", netip.Addr{}, "mta.example.com", "alice@example.com", PermError, "example.com"},
		{"RFC 8616 §3", "U-label MAIL FROM: the A-label record", netip.MustParseAddr("192.0.2.5"), "mta.example.com", "jörg@bücher.example", Pass, "xn--bcher-kva.example"},
		{"RFC 8616 §3", "upper-case U-label MAIL FROM", netip.MustParseAddr("192.0.2.5"), "mta.example.com", "ceo@BÜCHER.EXAMPLE.", Pass, "xn--bcher-kva.example"},
		{"RFC 8616 §3", "A-label MAIL FROM", ipX, "mta.example.com", "ceo@XN--BCHER-KVA.example", Fail, "xn--bcher-kva.example"},
		{"RFC 8616 §3", "full-width MAIL FROM folds to example.com", ip1, "mta.example.com", "alice@ｅｘａｍｐｌｅ.com", Pass, "example.com"},
		{"RFC 8616 §3", "null sender, U-label HELO", netip.MustParseAddr("192.0.2.6"), "helo.bücher.example", "", Pass, "helo.xn--bcher-kva.example"},
		{"RFC 8616 §3", "null sender, U-label HELO, wrong address", ipX, "HELO.Bücher.example", "", Fail, "helo.xn--bcher-kva.example"},
		{"RFC 7208 §4.3", "none: MAIL FROM domain that does not convert", ip1, "mta.example.com", "alice@xn--zz.example", None, "xn--zz.example"},
		{"RFC 7208 §4.3", "none: HELO that does not convert", ip1, "aא.example", "", None, "aא.example"},
	} {
		t.Run(tc.section+"/"+tc.name, func(t *testing.T) {
			got := c.SPF(t.Context(), tc.ip, tc.helo, tc.mailFrom)
			if got.Result != tc.want || got.Domain != tc.wantDomain {
				t.Errorf("SPF(%v, %q, %q) = %s for %q (%v); want %s for %q",
					tc.ip, tc.helo, tc.mailFrom, got.Result, got.Domain, got.Err, tc.want, tc.wantDomain)
			}
			if (got.Result == Pass) != (got.Err == nil) {
				t.Errorf("result %s with Err %v: Err must be set exactly when the result is not pass", got.Result, got.Err)
			}
		})
	}
}

// failingResolver answers every question with err.
type failingResolver struct{ err error }

func (f failingResolver) LookupTXT(context.Context, string) ([]string, error) { return nil, f.err }
func (f failingResolver) LookupMX(context.Context, string) ([]*net.MX, error) { return nil, f.err }
func (f failingResolver) LookupIPAddr(context.Context, string) ([]net.IPAddr, error) {
	return nil, f.err
}
func (f failingResolver) LookupAddr(context.Context, string) ([]string, error) { return nil, f.err }

// TestSPFGuard checks the guard around the spf package, which takes any
// error that is not itself a *net.DNSError for a permanent one: wrapped
// DNS errors, context deadlines and resolver errors of other types must
// end as temperror, and only a definite "no such record" as none.
func TestSPFGuard(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want Result
	}{
		{"wrapped timeout", fmt.Errorf("cache: %w", &net.DNSError{Err: "i/o timeout", IsTimeout: true}), TempError},
		{"context deadline", context.DeadlineExceeded, TempError},
		{"wrapped deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), TempError},
		{"plain error", errors.New("connection refused"), TempError},
		{"bare SERVFAIL", &net.DNSError{Err: "server misbehaving", IsTemporary: true}, TempError},
		{"wrapped not found", fmt.Errorf("x: %w", &net.DNSError{Err: "no such host", IsNotFound: true}), None},
		{"permanent DNS error", &net.DNSError{Err: "invalid domain name"}, PermError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Checker{Resolver: failingResolver{tc.err}}
			got := c.SPF(t.Context(), ip1, "mta.example.com", "alice@example.com")
			if got.Result != tc.want {
				t.Errorf("resolver error %v: SPF = %s (%v), want %s", tc.err, got.Result, got.Err, tc.want)
			}
		})
	}
}

// TestSPFContextDeadline checks that a check cut short by its own deadline
// is temperror, with a real server that never answers.
func TestSPFContextDeadline(t *testing.T) {
	c, srv := newChecker(t)
	srv.Timeout("example.com")
	c.Timeout = 50 * time.Millisecond // shorter than the client's own timeout
	got := c.SPF(t.Context(), ip1, "mta.example.com", "alice@example.com")
	if got.Result != TempError {
		t.Errorf("SPF with its deadline passed = %s (%v), want temperror", got.Result, got.Err)
	}
}

// notFoundErr is the resolver error for a name without records.
var notFoundErr = &net.DNSError{Err: "no such host", IsNotFound: true}
