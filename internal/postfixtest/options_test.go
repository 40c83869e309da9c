package postfixtest

import (
	"net/netip"
	"strings"
	"testing"
)

// TestValidate refuses each kind of Options that Postfix could not use or
// would read otherwise than meant, naming the field and the value.
func TestValidate(t *testing.T) {
	t.Parallel()
	ok := Options{Domains: []string{"example.com"}}
	tests := []struct {
		name string
		edit func(*Options)
		want string // in the error; "" for none
	}{
		{"minimal", func(o *Options) {}, ""},
		{"users, TLS, main, IP and port", func(o *Options) {
			o.Users = []string{"a@example.com", "B@EXAMPLE.COM", "zoë@example.com"}
			o.CertFile, o.KeyFile = "/c.pem", "/k.pem"
			o.Main = map[string]string{"smtpd_banner": "$myhostname hi", "relay_domains": ""}
			o.IP, o.Port = netip.MustParseAddr("127.9.8.7"), 2525
		}, ""},
		{"no domain", func(o *Options) { o.Domains = nil }, "Options.Domains is empty"},
		{"empty domain", func(o *Options) { o.Domains = []string{""} }, `Options.Domains: "" is not a domain`},
		{"domain with a space", func(o *Options) { o.Domains = []string{"a b.example"} }, `"a b.example" is not a domain`},
		{"domain with a comma", func(o *Options) { o.Domains = []string{"a.example,b.example"} }, "is not a domain"},
		{"domain with a newline", func(o *Options) { o.Domains = []string{"a.example\nrelayhost = x"} }, "is not a domain"},
		{"address as domain", func(o *Options) { o.Domains = []string{"u@example.com"} }, "is not a domain"},
		{"user without @", func(o *Options) { o.Users = []string{"alice"} }, `Options.Users: "alice" is not an address`},
		{"user without local part", func(o *Options) { o.Users = []string{"@example.com"} }, "is not an address"},
		{"user with a space", func(o *Options) { o.Users = []string{"a b@example.com"} }, "is not an address"},
		{"user with a tab", func(o *Options) { o.Users = []string{"a\tb@example.com"} }, "is not an address"},
		{"user with a newline", func(o *Options) { o.Users = []string{"a@example.com\nb@example.com"} }, "is not an address"},
		{"user at another domain", func(o *Options) { o.Users = []string{"a@example.net"} }, "is not at one of Options.Domains"},
		{"user at a subdomain", func(o *Options) { o.Users = []string{"a@sub.example.com"} }, "is not at one of Options.Domains"},
		{"certificate without key", func(o *Options) { o.CertFile = "/c.pem" }, "give both or neither"},
		{"key without certificate", func(o *Options) { o.KeyFile = "/k.pem" }, "give both or neither"},
		{"main name with capitals", func(o *Options) { o.Main = map[string]string{"MyHostname": "x"} }, "is not a main.cf parameter name"},
		{"main name with a space", func(o *Options) { o.Main = map[string]string{"my hostname": "x"} }, "is not a main.cf parameter name"},
		{"main name with =", func(o *Options) { o.Main = map[string]string{"a=b": "x"} }, "is not a main.cf parameter name"},
		{"main value with a newline", func(o *Options) { o.Main = map[string]string{"smtpd_banner": "x\nrelayhost = y"} }, "holds a line break"},
		{"main value with a CR", func(o *Options) { o.Main = map[string]string{"smtpd_banner": "x\ry"} }, "holds a line break"},
		{"IP not loopback", func(o *Options) { o.IP = netip.MustParseAddr("192.0.2.1") }, "is not an IPv4 loopback address"},
		{"IP unspecified", func(o *Options) { o.IP = netip.MustParseAddr("0.0.0.0") }, "is not an IPv4 loopback address"},
		{"IPv6 loopback", func(o *Options) { o.IP = netip.MustParseAddr("::1") }, "is not an IPv4 loopback address"},
		{"negative port", func(o *Options) { o.Port = -1 }, "is not a TCP port"},
		{"port too large", func(o *Options) { o.Port = 65536 }, "is not a TCP port"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := ok
			tc.edit(&opts)
			err := validate(opts)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("validate: %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("validate: %v, want an error with %q", err, tc.want)
			}
		})
	}
}
