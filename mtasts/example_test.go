package mtasts_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/ownmx/ownmx/mtasts"
)

func ExampleParse() {
	policy := "version: STSv1\r\n" +
		"mode: enforce\r\n" +
		"mx: mail.example.com\r\n" +
		"mx: *.example.net\r\n" +
		"max_age: 604800\r\n"
	p, err := mtasts.Parse(strings.NewReader(policy))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Mode, p.MX, p.MaxAge)

	_, err = mtasts.Parse(strings.NewReader("version: STSv1\nmode: enforce\nmax_age: 31557601\n"))
	fmt.Println(err)
	// Output:
	// enforce [mail.example.com *.example.net] 168h0m0s
	// mtasts: policy line 3: max_age 31557601 is over 31557600 seconds (RFC 8461 §3.2)
}

func ExamplePolicy_Match() {
	p := &mtasts.Policy{Mode: mtasts.Enforce, MX: []string{"mail.example.com", "*.example.net"}}
	for _, host := range []string{"MAIL.example.com.", "mx1.example.net", "example.net", "a.mx1.example.net"} {
		fmt.Println(host, p.Match(host))
	}
	// Output:
	// MAIL.example.com. true
	// mx1.example.net true
	// example.net false
	// a.mx1.example.net false
}

// How a sender uses a Fetcher for the domain of a recipient; mxHosts are
// the domain's MX hosts in preference order.
func ExampleFetcher_Policy() {
	f := &mtasts.Fetcher{} // one for the process, with the MX resolver
	var mxHosts []string
	p, err := f.Policy(context.Background(), "example.com")
	switch {
	case err != nil:
		fmt.Println("defer the message (4xx) and try later:", err)
	case p != nil && p.Mode == mtasts.Enforce:
		for _, host := range mxHosts {
			if p.Match(host) {
				fmt.Println("try", host, "with STARTTLS required and its certificate verified for", host)
			}
		}
	default:
		fmt.Println("deliver as without MTA-STS")
	}
}
