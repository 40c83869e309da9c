package auth

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// keyTable is an in-memory resolver with the keys of the ARC fuzz tests:
// TXT records by name; every other name and type is not found. It counts
// the lookups.
type keyTable struct {
	txt map[string][]string
	mu  sync.Mutex
	n   int
}

func (k *keyTable) LookupTXT(ctx context.Context, name string) ([]string, error) {
	k.mu.Lock()
	k.n++
	k.mu.Unlock()
	if v, ok := k.txt[strings.TrimSuffix(name, ".")]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (k *keyTable) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (k *keyTable) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (k *keyTable) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	return nil, &net.DNSError{Err: "no such host", Name: addr, IsNotFound: true}
}

func (k *keyTable) lookups() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.n
}

func bufioReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }

// unquote turns keyRecord's zone text back into the record's text.
func unquote(zone string) string {
	return strings.NewReplacer(`" "`, "", `"`, "").Replace(zone)
}

// FuzzARC feeds Checker.ARC and Sealer.Seal any message, from seeds that
// are valid chains of one, two and three sets, with both algorithms, a
// chain ended by cv=fail, and a message without a chain. Whatever the
// message: no panic; a result of none, pass, fail or temperror, with a
// reason exactly when it is not pass or none; none exactly when the
// header has no ARC field; at most one key lookup for the AMS and one per
// seal (bounded work); and what Seal adds to it validates as it should: a
// pass or none chain becomes pass one instance higher, a failed one ends
// with cv=fail.
func FuzzARC(f *testing.F) {
	keys := &keyTable{txt: map[string][]string{
		"sel._domainkey.example.org": {unquote(keyRecord(f, rsaKey()))},
		"ed._domainkey.example.org":  {unquote(keyRecord(f, edKey()))},
		"sel._domainkey.example.net": {unquote(keyRecord(f, rsaKey()))},
	}}
	c := &Checker{Resolver: keys, Timeout: 5 * time.Second, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return testNow }}
	msg := arcTestMessage(f)
	one := forward(f, c, testSealer("example.org", "sel"), msg, nil)
	two := forward(f, c, testSealer("example.net", "sel"), one, nil)
	three := forward(f, c, testSealer("example.org", "ed"), two, nil)
	ended := forward(f, c, testSealer("example.org", "ed"), strings.Replace(two, "noon?", "one?", 1), nil)
	for _, seed := range []string{msg, one, two, three, ended, "ARC-Seal: i=1\r\n\r\n", "ARC-Authentication-Results: i=51; x\r\n\r\n"} {
		f.Add(seed)
	}
	sealer := testSealer("example.org", "ed")
	f.Fuzz(func(t *testing.T, m string) {
		before := keys.lookups()
		got := c.ARC(t.Context(), strings.NewReader(m))
		lookups := keys.lookups() - before
		switch got.Result {
		case None, Pass:
			if got.Reason != "" {
				t.Fatalf("ARC = %+v: a reason for %s", got, got.Result)
			}
		case Fail, TempError:
			if got.Reason == "" {
				t.Fatalf("ARC = %+v: no reason", got)
			}
		default:
			t.Fatalf("ARC = %+v", got)
		}
		h, herr := readRawHeader(bufioReader(m), DefaultMaxHeaderBytes)
		if herr == nil {
			arcFields := len(readChain(h).fields)
			if (got.Result == None) != (arcFields == 0) {
				t.Fatalf("ARC = %+v for a header with %d ARC fields", got, arcFields)
			}
		}
		if got.Result == Pass && (got.Instance < 1 || got.Instance > maxInstance) {
			t.Fatalf("ARC = %+v: pass at an impossible instance", got)
		}
		if lookups > got.Instance+1 {
			t.Fatalf("ARC = %+v after %d key lookups, more than one per signature", got, lookups)
		}

		set, err := sealer.Seal(strings.NewReader(m), nil, got)
		if err != nil {
			if got.Result == Pass || got.Result == None {
				if herr == nil && !errors.Is(err, ErrARCChainEnded) {
					t.Fatalf("Seal of a chain that is %+v: %v", got, err)
				}
			}
			return
		}
		after := c.ARC(t.Context(), strings.NewReader(string(set)+m))
		switch want := got.Instance + 1; got.Result {
		case None, Pass:
			if after != (ARCResult{Result: Pass, Instance: want}) {
				t.Fatalf("ARC after sealing a chain that is %+v: %+v, want pass at i=%d", got, after, want)
			}
		case Fail:
			if after != (ARCResult{Result: Fail, Instance: want, Reason: fmt.Sprintf("ARC-Seal i=%d says cv=fail", want)}) {
				t.Fatalf("ARC after sealing a chain that is %+v: %+v, want fail at i=%d for cv=fail", got, after, want)
			}
		}
	})
}
