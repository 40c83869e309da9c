package dnsx_test

import (
	"errors"
	"net"
	"testing"

	"github.com/ownmx/ownmx/dnsx"
)

const mxZone = `
$ORIGIN example.net.
@          IN SOA ns.example.net. hostmaster.example.net. 1 7200 900 1209600 300
multi      IN MX  30 c.mx
multi      IN MX  10 a.mx
multi      IN MX  20 b.mx
implicit   IN A   192.0.2.7
implicit6  IN AAAA 2001:db8::7
nullmx     IN MX  0 .
nullmx     IN A   192.0.2.8
nothing    IN TXT "no mail here"
mxbroken   IN MX  10 mx
addrbroken IN TXT "no MX, and its address lookups fail"
`

func TestLookupMX(t *testing.T) {
	srv, c := newClient(t, mxZone)
	srv.ServFail("mxbroken.example.net")
	srv.ServFail("addrbroken.example.net")

	type mx = net.MX
	tests := []struct {
		group, name, domain string
		want                []mx
		wantErr             func(error) bool
	}{
		{"RFC 5321 §5.1", "sorted by preference", "multi.example.net",
			[]mx{{Host: "a.mx.example.net.", Pref: 10}, {Host: "b.mx.example.net.", Pref: 20}, {Host: "c.mx.example.net.", Pref: 30}}, nil},
		{"RFC 5321 §5.1", "implicit MX from A", "implicit.example.net",
			[]mx{{Host: "implicit.example.net.", Pref: 0}}, nil},
		{"RFC 5321 §5.1", "implicit MX from AAAA", "implicit6.example.net.",
			[]mx{{Host: "implicit6.example.net.", Pref: 0}}, nil},
		{"RFC 5321 §5.1", "neither MX nor address", "nothing.example.net", nil, dnsx.IsNotFound},
		{"RFC 5321 §5.1", "no such domain", "nope.example.net", nil, dnsx.IsNotFound},
		{"RFC 7505 §3", "null MX, address ignored", "nullmx.example.net", nil,
			func(err error) bool { return errors.Is(err, dnsx.ErrNullMX) }},
		{"temporary", "MX lookup fails", "mxbroken.example.net", nil, dnsx.IsTemporary},
		{"temporary", "address lookup for implicit MX fails", "addrbroken.example.net", nil, dnsx.IsTemporary},
	}
	for _, tt := range tests {
		t.Run(tt.group+"/"+tt.name, func(t *testing.T) {
			got, err := dnsx.LookupMX(t.Context(), c, tt.domain)
			if tt.wantErr != nil {
				if err == nil || !tt.wantErr(err) {
					t.Fatalf("LookupMX(%q) = %v, %v; want a matching error", tt.domain, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("LookupMX(%q): %v", tt.domain, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("LookupMX(%q) = %d hosts, want %v", tt.domain, len(got), tt.want)
			}
			for i := range got {
				if *got[i] != tt.want[i] {
					t.Errorf("host %d = %v, want %v", i, *got[i], tt.want[i])
				}
			}
		})
	}
}

// The null MX error names the domain.
func TestLookupMXNullMessage(t *testing.T) {
	_, c := newClient(t, mxZone)
	_, err := dnsx.LookupMX(t.Context(), c, "nullmx.example.net")
	if err == nil || err.Error() != "dnsx: null MX: the domain accepts no mail (RFC 7505): nullmx.example.net" {
		t.Errorf("err = %v", err)
	}
}
