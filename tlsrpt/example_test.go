package tlsrpt_test

import (
	"fmt"
	"log"
	"os"

	"github.com/ownmx/ownmx/tlsrpt"
)

// A report read from a file, JSON or gzip, and its summary.
func ExampleSummarize() {
	f, err := os.Open("testdata/rfc8460-appendix-b.json")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	r, err := tlsrpt.Parse(f)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(tlsrpt.Summarize(r))
	// Output:
	// 1 report from 2016-04-01T00:00:00Z to 2016-04-01T23:59:59Z
	// company-y.example sts: 5326 sessions ok, 303 failed (starttls-not-supported 200, certificate-expired 100, validation-failure 3) from 198.51.100.62, 2001:db8:abcd:12::1, 2001:db8:abcd:13::1 to mx-backup.mail.company-y.example, mx1.mail.company-y.example, mx2.mail.company-y.example; reported by Company-X
}

func ExampleParseRecord() {
	rec, err := tlsrpt.ParseRecord("v=TLSRPTv1; rua=mailto:tlsrpt@example.com,https://reports.example.com/v1")
	fmt.Println(rec.RUA, err)
	_, err = tlsrpt.ParseRecord("v=TLSRPTv1; rua=http://reports.example.com/v1")
	fmt.Println(err)
	// Output:
	// [mailto:tlsrpt@example.com https://reports.example.com/v1] <nil>
	// tlsrpt: record "v=TLSRPTv1; rua=http://reports.example.com/v1": rua URI "http://reports.example.com/v1" is not a mailto: or https: URI (RFC 8460 §3)
}
