package dnsx_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"os"

	"github.com/miekg/dns"

	"github.com/ownmx/ownmx/dnsx"
	"github.com/ownmx/ownmx/dnsx/dnstest"
)

// A resolver on one nameserver with a cache in front: the second lookup of
// the same record is answered from the cache. In tests the nameserver is a
// dnstest.Server; in production it is the resolver you run.
func ExampleNewResolver() {
	srv, err := dnstest.Start(`
example.com. 3600 IN SOA ns.example.com. hostmaster.example.com. 1 7200 900 1209600 300
example.com. 3600 IN MX  10 mx.example.com.
example.com. 3600 IN TXT "v=spf1 mx -all"
`)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	var r dnsx.Resolver = dnsx.NewCache(dnsx.NewResolver(srv.Addr), 1000)
	ctx := context.Background()
	for range 2 {
		txt, err := r.LookupTXT(ctx, "example.com")
		fmt.Println(txt, err)
	}
	mx, err := dnsx.LookupMX(ctx, r, "example.com")
	fmt.Println(mx[0].Host, mx[0].Pref, err)
	_, err = r.LookupTXT(ctx, "nope.example.com")
	fmt.Println("not found:", dnsx.IsNotFound(err), "temporary:", dnsx.IsTemporary(err))
	fmt.Println("queries for the TXT record:", srv.Queries("example.com", dns.TypeTXT))
	// Output:
	// [v=spf1 mx -all] <nil>
	// [v=spf1 mx -all] <nil>
	// mx.example.com. 10 <nil>
	// not found: true temporary: false
	// queries for the TXT record: 1
}

// Check a domain whose MX is right but which has no DMARC record.
func ExampleCheck() {
	srv, err := dnstest.Start(`
example.com.     3600 IN SOA ns.example.com. hostmaster.example.com. 1 7200 900 1209600 300
example.com.     3600 IN MX  10 mx.example.com.
example.com.     3600 IN TXT "v=spf1 mx -all"
mx.example.com.  3600 IN A   192.0.2.25
2.0.192.in-addr.arpa.    3600 IN SOA ns.example.com. hostmaster.example.com. 1 7200 900 1209600 300
25.2.0.192.in-addr.arpa. 3600 IN PTR mx.example.com.
`)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	r := dnsx.NewCache(dnsx.NewResolver(srv.Addr), 0)
	rep, err := dnsx.Check(context.Background(), r, "example.com", dnsx.Expect{
		MXHost: "mx.example.com",
		IPs:    []netip.Addr{netip.MustParseAddr("192.0.2.25")},
	})
	if err != nil {
		log.Fatal(err) // DNS could not be asked: try again later
	}
	for _, f := range rep.Findings {
		fmt.Printf("%-7s %-5s %s\n", f.Severity, f.Check, f.Message)
		if f.Fix != "" {
			fmt.Printf("        fix:  %s\n", f.Fix)
		}
	}
	fmt.Println("ready:", rep.OK)
	// Output:
	// ok      mx    MX of example.com points to mx.example.com (preference 10)
	// ok      a     mx.example.com resolves to 192.0.2.25
	// ok      ptr   192.0.2.25 has PTR mx.example.com, which resolves back to it
	// ok      spf   SPF record "v=spf1 mx -all"
	// warning dmarc example.com has no DMARC record, so receivers apply no policy to mail forged in its name
	//         fix:  publish _dmarc.example.com. TXT "v=DMARC1; p=quarantine"
	// ready: true
}

// The records to publish for mail to example.com to arrive at
// mx.example.com.
func ExampleRecords() {
	recs := dnsx.Records("example.com", "mx.example.com", []netip.Addr{
		netip.MustParseAddr("203.0.113.25"),
		netip.MustParseAddr("2001:db8::25"),
	})
	dnsx.WriteRecords(os.Stdout, recs)
	// Output:
	// ; zone-file lines
	// example.com. 3600 IN MX 10 mx.example.com.
	// mx.example.com. 3600 IN A 203.0.113.25
	// mx.example.com. 3600 IN AAAA 2001:db8::25
	// example.com. 3600 IN TXT "v=spf1 mx -all"
	// _dmarc.example.com. 3600 IN TXT "v=DMARC1; p=quarantine"
	//
	// ; for a DNS provider's web form
	// TYPE  NAME                PRIORITY  CONTENT
	// MX    example.com         10        mx.example.com
	// A     mx.example.com                203.0.113.25
	// AAAA  mx.example.com                2001:db8::25
	// TXT   example.com                   v=spf1 mx -all
	// TXT   _dmarc.example.com            v=DMARC1; p=quarantine
	//
	// note: mx.example.com: DNS only: must not be proxied by your DNS provider (Cloudflare's orange cloud breaks mail)
}
