// Command benchdns serves, on 127.0.0.1, the DNS records that bench/run.sh
// needs so that examples/inbox checks SPF, DKIM and DMARC for real on the
// benchmark's load: Postfix smtp-source sends from bench@example.com on
// loopback, so the zone publishes for example.com an SPF record that passes
// 127.0.0.1, a DMARC record with p=reject (the message passes it by aligned
// SPF) and a DKIM key (ed25519, selector "bench") for signed test messages.
//
//	go run ./bench/benchdns -addr-file /tmp/dns.addr
//
// It prints the "127.0.0.1:port" it listens on (UDP and TCP) to stdout and,
// with -addr-file, to that file once it is serving, then serves until
// SIGINT or SIGTERM. The records are those of dnsx/dnstest's server: a
// real DNS server, so the inbox's resolver and cache run as in production.
package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ownmx/ownmx/dnsx/dnstest"
)

func main() {
	domain := flag.String("domain", "example.com", "the sender `domain` to publish SPF, DKIM and DMARC records for")
	ttl := flag.Int("ttl", 3600, "TTL of the records, in seconds")
	addrFile := flag.String("addr-file", "", "write the listening address to this `file` once serving")
	flag.Parse()

	srv, err := dnstest.Start(zone(*domain, *ttl))
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchdns: %v\n", err)
		os.Exit(1)
	}
	defer srv.Close()
	if *addrFile != "" {
		// Written whole under another name, then renamed: a reader polling
		// for the file never sees half an address.
		tmp := *addrFile + ".tmp"
		err := os.WriteFile(tmp, []byte(srv.Addr+"\n"), 0o644)
		if err == nil {
			err = os.Rename(tmp, *addrFile)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "benchdns: %v\n", err)
			srv.Close()
			os.Exit(1)
		}
	}
	fmt.Println(srv.Addr)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
}

// zone returns the records of domain, in master file syntax.
func zone(domain string, ttl int) string {
	// A fixed key: nothing secret is protected, and runs are repeatable.
	seed := make([]byte, ed25519.SeedSize)
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	return fmt.Sprintf(`$ORIGIN %[1]s.
$TTL %[2]d
@ SOA ns.%[1]s. hostmaster.%[1]s. 1 3600 600 86400 %[2]d
@ TXT "v=spf1 ip4:127.0.0.1 -all"
_dmarc TXT "v=DMARC1; p=reject"
bench._domainkey TXT "v=DKIM1; k=ed25519; p=%[3]s"
`, domain, ttl, base64.StdEncoding.EncodeToString(pub))
}
