package srs_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/ownmx/ownmx/srs"
)

// A forwarder for mydomain.dev rewrites the sender of mail it forwards,
// and finds the original sender of a bounce that comes back.
func Example() {
	r := &srs.Rewriter{
		Domain:  "mydomain.dev",
		Secrets: [][]byte{[]byte("a secret of at least 16 bytes")},
		Now:     func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) },
	}
	from, _ := r.Forward("alice@example.com")
	fmt.Println("forward with MAIL FROM:", from)

	sender, _ := r.Reverse(from)
	fmt.Println("a bounce to it goes to:", sender)

	_, err := r.Reverse("SRS0=AAAA=BB=example.com=alice@mydomain.dev")
	fmt.Println("a made-up address is refused:", errors.Is(err, srs.ErrForged))

	_, err = r.Reverse("me@mydomain.dev")
	fmt.Println("a mailbox is not SRS:", errors.Is(err, srs.ErrNotSRS))
	// Output:
	// forward with MAIL FROM: SRS0=NZIN=BB=example.com=alice@mydomain.dev
	// a bounce to it goes to: alice@example.com
	// a made-up address is refused: true
	// a mailbox is not SRS: true
}
