package dnsx_test

import (
	"context"
	"fmt"
	"log"

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
