package dnstest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ownmx/ownmx/dnsx/dnstest"
)

var zone = `
$ORIGIN example.com.
@        3600 IN SOA ns.example.com. hostmaster.example.com. 1 7200 900 1209600 300
@             IN MX  10 mx
mx            IN A   192.0.2.25
www           IN CNAME mx
a.b.deep      IN TXT "leaf"
big           IN TXT "` + strings.Repeat("x", 250) + `"
big           IN TXT "` + strings.Repeat("y", 250) + `"
big           IN TXT "` + strings.Repeat("z", 250) + `"
`

// ask sends one query to srv over network and returns the reply.
func ask(t *testing.T, srv *dnstest.Server, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, srv.Addr)
	if err != nil {
		t.Fatalf("query %s %s over %s: %v", name, dns.TypeToString[qtype], network, err)
	}
	return r
}

func TestAnswers(t *testing.T) {
	srv := dnstest.NewServer(t, zone)
	tests := []struct {
		name      string
		qname     string
		qtype     uint16
		rcode     int
		answers   []uint16 // types in the answer section, in order
		authority bool     // SOA in the authority section
	}{
		// RFC 1034 §4.3.2: names and types present.
		{"record", "mx.example.com.", dns.TypeA, dns.RcodeSuccess, []uint16{dns.TypeA}, false},
		{"case-insensitive", "MX.Example.COM.", dns.TypeA, dns.RcodeSuccess, []uint16{dns.TypeA}, false},
		{"cname followed", "www.example.com.", dns.TypeA, dns.RcodeSuccess, []uint16{dns.TypeCNAME, dns.TypeA}, false},
		{"cname asked", "www.example.com.", dns.TypeCNAME, dns.RcodeSuccess, []uint16{dns.TypeCNAME}, false},
		// RFC 2308 §2.1 and §2.2: NXDOMAIN and NODATA carry the SOA.
		{"nxdomain", "nope.example.com.", dns.TypeA, dns.RcodeNameError, nil, true},
		{"nodata", "mx.example.com.", dns.TypeMX, dns.RcodeSuccess, nil, true},
		{"empty non-terminal is nodata", "b.deep.example.com.", dns.TypeTXT, dns.RcodeSuccess, nil, true},
		{"cname to nodata", "www.example.com.", dns.TypeTXT, dns.RcodeSuccess, []uint16{dns.TypeCNAME}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, network := range []string{"udp", "tcp"} {
				r := ask(t, srv, network, tt.qname, tt.qtype)
				if r.Rcode != tt.rcode {
					t.Errorf("%s: rcode %s, want %s", network, dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
				}
				var got []uint16
				for _, rr := range r.Answer {
					got = append(got, rr.Header().Rrtype)
				}
				if len(got) != len(tt.answers) {
					t.Fatalf("%s: answer %v, want types %v", network, r.Answer, tt.answers)
				}
				for i := range got {
					if got[i] != tt.answers[i] {
						t.Errorf("%s: answer %v, want types %v", network, r.Answer, tt.answers)
					}
				}
				hasSOA := len(r.Ns) == 1 && r.Ns[0].Header().Rrtype == dns.TypeSOA
				if hasSOA != tt.authority {
					t.Errorf("%s: authority %v, want SOA: %v", network, r.Ns, tt.authority)
				}
				if !r.Authoritative {
					t.Errorf("%s: AA bit not set", network)
				}
			}
		})
	}
}

func TestTruncation(t *testing.T) {
	srv := dnstest.NewServer(t, zone)
	// RFC 1035 §4.2.1: over UDP without EDNS0, at most 512 bytes.
	r := ask(t, srv, "udp", "big.example.com.", dns.TypeTXT)
	if !r.Truncated || len(r.Answer) == 3 {
		t.Errorf("udp: truncated %v with %d records, want TC and fewer than 3", r.Truncated, len(r.Answer))
	}
	r = ask(t, srv, "tcp", "big.example.com.", dns.TypeTXT)
	if r.Truncated || len(r.Answer) != 3 {
		t.Errorf("tcp: truncated %v with %d records, want all 3", r.Truncated, len(r.Answer))
	}
	// RFC 6891 §6.2.5: a larger EDNS0 buffer gets the whole answer.
	m := new(dns.Msg)
	m.SetQuestion("big.example.com.", dns.TypeTXT)
	m.SetEdns0(4096, false)
	r, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(m, srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if r.Truncated || len(r.Answer) != 3 {
		t.Errorf("udp with EDNS0: truncated %v with %d records, want all 3", r.Truncated, len(r.Answer))
	}
}

func TestFailures(t *testing.T) {
	srv := dnstest.NewServer(t, zone)
	srv.ServFail("mx.example.com")
	if r := ask(t, srv, "udp", "mx.example.com.", dns.TypeA); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("after ServFail: rcode %s", dns.RcodeToString[r.Rcode])
	}
	srv.Refuse("mx.example.com.")
	if r := ask(t, srv, "tcp", "mx.example.com.", dns.TypeA); r.Rcode != dns.RcodeRefused {
		t.Errorf("after Refuse: rcode %s", dns.RcodeToString[r.Rcode])
	}
	srv.Timeout("mx.example.com.")
	for _, network := range []string{"udp", "tcp"} {
		m := new(dns.Msg)
		m.SetQuestion("mx.example.com.", dns.TypeA)
		c := &dns.Client{Net: network, Timeout: 100 * time.Millisecond}
		if r, _, err := c.Exchange(m, srv.Addr); err == nil {
			t.Errorf("after Timeout over %s: got a reply %v, want none", network, r)
		}
	}
	srv.Restore("mx.example.com.")
	if r := ask(t, srv, "udp", "mx.example.com.", dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("after Restore: %v", r)
	}
	// Other names were never affected.
	if r := ask(t, srv, "udp", "example.com.", dns.TypeMX); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("example.com MX: %v", r)
	}
}

func TestQueries(t *testing.T) {
	srv := dnstest.NewServer(t, zone)
	if n := srv.Queries("mx.example.com", dns.TypeA); n != 0 {
		t.Fatalf("before any query: %d", n)
	}
	ask(t, srv, "udp", "mx.example.com.", dns.TypeA)
	ask(t, srv, "tcp", "MX.example.com.", dns.TypeA)
	ask(t, srv, "udp", "mx.example.com.", dns.TypeAAAA)
	srv.Timeout("slow.example.com.")
	m := new(dns.Msg)
	m.SetQuestion("slow.example.com.", dns.TypeA)
	(&dns.Client{Timeout: 50 * time.Millisecond}).Exchange(m, srv.Addr)

	for _, tt := range []struct {
		name  string
		qtype uint16
		want  int
	}{
		{"mx.example.com", dns.TypeA, 2},
		{"mx.example.com.", dns.TypeAAAA, 1},
		{"mx.example.com.", 0, 3},
		{"mx.example.com.", dns.TypeMX, 0},
		{"slow.example.com.", dns.TypeA, 1},
	} {
		if got := srv.Queries(tt.name, tt.qtype); got != tt.want {
			t.Errorf("Queries(%q, %s) = %d, want %d", tt.name, dns.TypeToString[tt.qtype], got, tt.want)
		}
	}
}

func TestStartBadZone(t *testing.T) {
	srv, err := dnstest.Start("example.com. IN A not-an-address\n")
	if err == nil {
		srv.Close()
		t.Fatal("Start accepted a zone that does not parse")
	}
	if !strings.Contains(err.Error(), "dnstest") {
		t.Errorf("error %q does not say where it comes from", err)
	}
}

func TestCloseTwice(t *testing.T) {
	srv, err := dnstest.Start(zone)
	if err != nil {
		t.Fatal(err)
	}
	srv.Timeout("mx.example.com.")
	m := new(dns.Msg)
	m.SetQuestion("mx.example.com.", dns.TypeA)
	(&dns.Client{Net: "tcp", Timeout: 50 * time.Millisecond}).Exchange(m, srv.Addr)
	srv.Close()
	srv.Close()
	if _, _, err := (&dns.Client{Net: "tcp", Timeout: time.Second}).Exchange(m, srv.Addr); err == nil {
		t.Error("closed server still answers over TCP")
	}
}

// A record without a TTL takes the $TTL in force (RFC 2308 §4), else the
// last TTL given (RFC 1035 §5.1), else DefaultTTL; it never stops the zone
// from loading, whether it gives its class or not.
func TestDefaultTTL(t *testing.T) {
	srv := dnstest.NewServer(t, `
first.example.com.             TXT "no TTL, no class, nothing before"
soa.example.com.           IN SOA ns.example.com. hostmaster.example.com. 1 7200 900 1209600 300
given.example.com.     300 IN TXT "TTL given"
after.example.com.         IN TXT "no TTL, after one given"
mx.example.com.               MX 10 given.example.com.
$TTL 120
directive.example.com.     IN TXT "no TTL, after $TTL"
explicit.example.com.   60 IN TXT "TTL given after $TTL"
last.example.com.             A 192.0.2.1
`)
	classFirst := dnstest.NewServer(t, `
first.example.com.         IN TXT "no TTL, class, nothing before"
`)
	for _, tt := range []struct {
		srv   *dnstest.Server
		name  string
		qtype uint16
		ttl   uint32
	}{
		{srv, "first.example.com.", dns.TypeTXT, dnstest.DefaultTTL},
		{srv, "soa.example.com.", dns.TypeSOA, dnstest.DefaultTTL},
		{srv, "given.example.com.", dns.TypeTXT, 300},
		{srv, "after.example.com.", dns.TypeTXT, 300},
		{srv, "mx.example.com.", dns.TypeMX, 300},
		{srv, "directive.example.com.", dns.TypeTXT, 120},
		{srv, "explicit.example.com.", dns.TypeTXT, 60},
		{srv, "last.example.com.", dns.TypeA, 120},
		{classFirst, "first.example.com.", dns.TypeTXT, dnstest.DefaultTTL},
	} {
		r := ask(t, tt.srv, "udp", tt.name, tt.qtype)
		if len(r.Answer) != 1 {
			t.Errorf("%s %s: %d answers, want 1", tt.name, dns.TypeToString[tt.qtype], len(r.Answer))
			continue
		}
		if got := r.Answer[0].Header().Ttl; got != tt.ttl {
			t.Errorf("%s %s: TTL %d, want %d", tt.name, dns.TypeToString[tt.qtype], got, tt.ttl)
		}
	}
}

// RFC 1035 §5.1: a name is the same however its bytes are written, escaped
// as \DDD or \X or not, and in any ASCII case (RFC 4343 §3), in the zone as
// in the question.
func TestEscapedNames(t *testing.T) {
	srv := dnstest.NewServer(t, `
a\032b.example.com.     IN TXT "space"
pct\037.example.com.    IN TXT "percent"
dot\.ted.example.com.   IN TXT "escaped dot"
Upper\128.example.com.  IN TXT "byte 128"
alias.example.com.      IN CNAME A\ B.example.COM.
`)
	for _, tt := range []struct{ qname, want string }{
		{`a\032b.example.com.`, "space"},
		{`a\ b.example.com.`, "space"},
		{"a b.example.com.", "space"},
		{`A\032B.EXAMPLE.COM.`, "space"},
		{`pct\037.example.com.`, "percent"},
		{"pct%.example.com.", "percent"},
		{`dot\.ted.example.com.`, "escaped dot"},
		{`dot\046ted.example.com.`, "escaped dot"},
		{`upper\128.example.com.`, "byte 128"},
		{"UPPER\x80.example.com.", "byte 128"},
		{"alias.example.com.", "space"},
	} {
		r := ask(t, srv, "udp", tt.qname, dns.TypeTXT)
		var got []string
		for _, rr := range r.Answer {
			if txt, ok := rr.(*dns.TXT); ok {
				got = append(got, txt.Txt...)
			}
		}
		if r.Rcode != dns.RcodeSuccess || len(got) != 1 || got[0] != tt.want {
			t.Errorf("TXT %q: %s %q, want %q", tt.qname, dns.RcodeToString[r.Rcode], got, tt.want)
		}
	}
	if n := srv.Queries("a b.example.com", dns.TypeTXT); n != 4 {
		t.Errorf("Queries(a b) = %d, want 4 (however it was written)", n)
	}
}
