package route

import (
	"strings"
	"testing"

	"github.com/ownmx/ownmx/smtpd"
)

// refMatch is the precedence list written the other way round: rather
// than look up the candidate patterns of rcpt in order, it asks each
// registered pattern (in canonical form) whether it matches rcpt and at
// which rank of the package documentation's table, and keeps the best.
func refMatch(patterns []string, rcpt string) (string, bool) {
	// The recipient: local part and domain at the last "@", the local
	// part's ASCII letters folded by hand, the tag from the first "+" that
	// has something before it.
	local, domain, hasDomain := rcpt, "", false
	if i := strings.LastIndex(rcpt, "@"); i >= 0 {
		local, hasDomain = rcpt[:i], true
		d, err := smtpd.ToASCII(rcpt[i+1:])
		if err != nil {
			return "", false
		}
		domain = strings.TrimSuffix(d, ".")
		if domain == "" {
			return "", false
		}
	}
	var folded []byte
	for _, c := range []byte(local) {
		if c >= 'A' && c <= 'Z' {
			c += 32
		}
		folded = append(folded, c)
	}
	local = string(folded)
	base, tag, tagged := local, "", false
	if i := strings.Index(local, "+"); i > 0 {
		base, tag, tagged = local[:i], local[i+1:], true
	}
	_ = tag

	best, bestRank := "", 99
	for _, p := range patterns {
		rank := 0
		if p == "*" {
			rank = 8
		} else {
			i := strings.Index(p, "@")
			pl, pd := p[:i], p[i+1:]
			sameDomain := pd != "" && hasDomain && pd == domain
			anyDomain := pd == ""
			if !sameDomain && !anyDomain {
				continue
			}
			offset := 0 // ranks 1-3 name the domain, 4-6 do not
			if anyDomain {
				offset = 3
			}
			switch {
			case pl == "*":
				if !sameDomain {
					continue
				}
				rank = 7
			case strings.HasSuffix(pl, "+*"):
				if !tagged || pl[:len(pl)-2] != base {
					continue
				}
				rank = 2 + offset
			case tagged && pl == local:
				rank = 1 + offset
			case pl == base:
				rank = 3 + offset
			default:
				continue
			}
		}
		if rank < bestRank {
			best, bestRank = p, rank
		}
	}
	return best, bestRank < 99
}

// fuzzTokens are the pieces fuzzed patterns and recipients are made of,
// chosen so that they collide: one local part in several spellings, tags,
// domains in U-labels and A-labels, and the characters patterns treat
// specially. A space separates the recipient and the patterns.
var fuzzTokens = []string{
	"me", "ME", "Me", "you", "+", "+*", "*", "@", ".", "a", "b",
	"example.com", "EXAMPLE.com", "example.com.", "bücher.example", "xn--bcher-kva.example",
	"Bücher.Example", "ｅｘａｍｐｌｅ.com", "jörg", "JÖRG", `"`, " ", "-", "_", "xn--zz", "\u212a",
}

// FuzzMatch registers the valid patterns among fuzzed ones and checks that
// Match picks what refMatch picks for a fuzzed recipient.
func FuzzMatch(f *testing.F) {
	f.Add([]byte{}, "me+shop@example.com")
	f.Add([]byte{0, 4, 8, 11, 21, 0, 5, 8, 11, 21, 0, 8, 11, 21, 6, 8, 11, 21, 6}, "ME+x@Example.COM")
	f.Add([]byte{0, 4, 9, 8, 11, 21, 0, 4, 9, 4, 10, 8, 21, 0, 4, 9, 4, 10, 8, 14, 21, 6}, "me+a+b@bücher.example")
	f.Add([]byte{18, 8, 14, 21, 19, 8, 15, 21, 6, 8, 16}, "jörg@xn--bcher-kva.example")
	f.Add([]byte{0, 8, 21, 1, 5, 8, 21, 2, 8, 12}, "postmaster")
	f.Fuzz(func(t *testing.T, tokens []byte, rcpt string) {
		if len(tokens) > 200 {
			return
		}
		var b strings.Builder
		for _, c := range tokens {
			b.WriteString(fuzzTokens[int(c)%len(fuzzTokens)])
		}
		fields := strings.Split(b.String(), " ")
		mux := NewMux()
		var registered []string
		for _, p := range fields {
			if mux.Register(p, nop) == nil {
				key, err := canonical(p)
				if err != nil {
					t.Fatalf("Register took %q, canonical refuses it: %v", p, err)
				}
				registered = append(registered, key)
			}
		}
		// The fuzzed recipient, and each field as a recipient too.
		for _, r := range append(fields, rcpt) {
			got, _, ok := mux.Match(r)
			want, wantOK := refMatch(registered, r)
			if got != want || ok != wantOK {
				t.Fatalf("patterns %q: Match(%q) = %q, %v; the reference says %q, %v", registered, r, got, ok, want, wantOK)
			}
		}
	})
}
