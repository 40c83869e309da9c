package main

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseRoutes(t *testing.T) {
	const file = `# the application gets support@ and tagged orders
support@example.com   webhook https://app.example.com/hooks/mail secret=whsec_b2xk secret=whsec_bmV3
orders+*@example.com  webhook http://127.0.0.1:8080/orders raw sync timeout=10s

*@example.com         maildir
noreply@              drop
me@                   forward me@mail.example
me@                   forward Me@Mail.Example junk
`
	got, err := parseRoutes(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	want := []routeLine{
		{line: 2, pattern: "support@example.com", action: "webhook", url: "https://app.example.com/hooks/mail", secrets: []string{"whsec_b2xk", "whsec_bmV3"}},
		{line: 3, pattern: "orders+*@example.com", action: "webhook", url: "http://127.0.0.1:8080/orders", raw: true, sync: true, timeout: 10 * time.Second},
		{line: 5, pattern: "*@example.com", action: "maildir"},
		{line: 6, pattern: "noreply@", action: "drop"},
		{line: 7, pattern: "me@", action: "forward", target: "me@mail.example"},
		{line: 8, pattern: "me@", action: "forward", target: "Me@Mail.Example", junk: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parsed\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseRoutesErrors(t *testing.T) {
	for _, tc := range []struct{ file, err string }{
		{"", "1: no route"},
		{"# only a comment\n", "1: no route"},
		{"me@example.com\n", "1: route \"me@example.com\" has no action"},
		{"me@example.com mailbox\n", "1: unknown action \"mailbox\""},
		{"me@example.com maildir extra\n", "1: maildir takes no options"},
		{"me@example.com drop raw\n", "1: drop takes no options"},
		{"\nme@example.com webhook\n", "2: webhook needs a URL"},
		{"me@example.com webhook ftp://x/\n", "1: webhook URL \"ftp://x/\""},
		{"me@example.com webhook https:///path\n", "1: webhook URL"},
		{"me@example.com webhook app.example.com/hook\n", "1: webhook URL"},
		{"me@example.com webhook https://a/ secret=abc\n", "1: secret must start with whsec_"},
		{"me@example.com webhook https://a/ secret\n", "1: unknown webhook option \"secret\""},
		{"me@example.com webhook https://a/ raw=yes\n", "1: unknown webhook option \"raw=yes\""},
		{"me@example.com webhook https://a/ timeout=soon\n", "1: timeout=soon"},
		{"me@example.com webhook https://a/ timeout=-1s\n", "1: timeout=-1s"},
		{"me@example.com webhook https://a/ retry\n", "1: unknown webhook option \"retry\""},
		{"me@ forward\n", "1: forward needs an address"},
		{"me@ forward nobody\n", "1: forward address \"nobody\""},
		{"me@ forward @mail.example\n", "1: forward address \"@mail.example\""},
		{"me@ forward me@\n", "1: forward address \"me@\""},
		{"me@ forward me@a..b\n", "1: forward address \"me@a..b\""},
		{"me@ forward me@mail.example quarantine\n", "1: unknown forward option \"quarantine\""},
	} {
		_, err := parseRoutes(strings.NewReader(tc.file))
		if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
			t.Errorf("%q: error %v, want one starting %q", tc.file, err, tc.err)
		}
	}
}

// FuzzParseRoutes: whatever the file, parseRoutes does not panic, and
// what it accepts is what newRoutes can use: a pattern and a known
// action on each line, in order, a webhook with an http(s) URL and its
// secrets in whsec_ form, nothing else with options.
func FuzzParseRoutes(f *testing.F) {
	for _, seed := range []string{
		"* maildir\n",
		"support@example.com webhook https://app.example.com/h secret=whsec_b2xk raw sync timeout=10s\n",
		"# c\n\nnoreply@ drop\n*@example.com maildir extra\n",
		"me@ webhook ftp://x/\n", "me@ webhook https://a/ timeout=-1s\n", "\x00 drop\r\n",
		"me@ forward me@mail.example junk\n", "me@ forward a@b@c\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, file string) {
		routes, err := parseRoutes(strings.NewReader(file))
		if err != nil {
			return
		}
		last := 0
		for _, rl := range routes {
			if rl.line <= last || rl.pattern == "" || strings.ContainsAny(rl.pattern, " \t\n") {
				t.Fatalf("line %d: %+v", rl.line, rl)
			}
			last = rl.line
			switch rl.action {
			case "maildir", "drop":
				if rl.url != "" || rl.secrets != nil || rl.raw || rl.sync || rl.timeout != 0 || rl.target != "" || rl.junk {
					t.Fatalf("%s with options: %+v", rl.action, rl)
				}
			case "forward":
				if checkForwardAddress(rl.target) != nil || rl.url != "" || rl.secrets != nil || rl.raw || rl.sync || rl.timeout != 0 {
					t.Fatalf("forward: %+v", rl)
				}
			case "webhook":
				u, err := url.Parse(rl.url)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || rl.timeout < 0 {
					t.Fatalf("webhook: %+v", rl)
				}
				for _, s := range rl.secrets {
					if !strings.HasPrefix(s, "whsec_") {
						t.Fatalf("secret %q", s)
					}
				}
			default:
				t.Fatalf("action %q accepted", rl.action)
			}
		}
	})
}
