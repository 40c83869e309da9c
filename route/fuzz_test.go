package route

import (
	"slices"
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

	best, bestRank, bestPrefix := "", 99, 0
	for _, p := range patterns {
		rank, prefix := 0, 0
		if p == "*" {
			rank = 10
		} else {
			i := strings.Index(p, "@")
			pl, pd := p[:i], p[i+1:]
			sameDomain := pd != "" && hasDomain && pd == domain
			anyDomain := pd == ""
			if !sameDomain && !anyDomain {
				continue
			}
			offset := 0 // ranks 1-4 name the domain, 5-8 do not
			if anyDomain {
				offset = 4
			}
			switch {
			case pl == "*":
				if !sameDomain {
					continue
				}
				rank = 9
			case strings.HasSuffix(pl, "*") && !strings.HasSuffix(pl, "+*"):
				// A prefix of the whole local part, which must be longer.
				pre := pl[:len(pl)-1]
				if len(local) <= len(pre) || local[:len(pre)] != pre || strings.HasPrefix(local, `"`) {
					continue
				}
				rank, prefix = 4+offset, len(pre)
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
		if rank < bestRank || rank == bestRank && prefix > bestPrefix {
			best, bestRank, bestPrefix = p, rank, prefix
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
	"SRS0=", "srs0", "=",
}

// encode returns the fuzz input that spells the fields, separated by
// spaces, in fuzzTokens; each field is a list of tokens.
func encode(fields ...[]string) []byte {
	var b []byte
	for i, f := range fields {
		if i > 0 {
			f = append([]string{" "}, f...)
		}
		for _, tok := range f {
			b = append(b, byte(slices.Index(fuzzTokens, tok)))
		}
	}
	return b
}

// FuzzMatch registers the valid patterns among fuzzed ones and checks that
// Match picks what refMatch picks for a fuzzed recipient and for
// recipients made from the patterns. The seeds hold every pair of pattern
// kinds of the precedence table.
func FuzzMatch(f *testing.F) {
	kinds := [][]string{
		{"me", "+", "a", "@", "example.com"},
		{"me", "+*", "@", "EXAMPLE.com"},
		{"Me", "@", "example.com."},
		{"ME", "+", "a", "@"},
		{"me", "+*", "@"},
		{"me", "@"},
		{"m", "*", "@", "example.com"},
		{"M", "*", "@"},
		{"*", "@", "ｅｘａｍｐｌｅ.com"},
		{"*"},
	}
	for i := range kinds {
		for j := i + 1; j < len(kinds); j++ {
			f.Add(encode(kinds[i], kinds[j]), "me+a@example.com")
			f.Add(encode(kinds[j], kinds[i]), "ME@Example.COM")
		}
	}
	f.Add(encode(kinds...), "me+b@example.com")
	f.Add(encode([]string{"me", "+", "a", "+", "b", "@", "bücher.example"}, []string{"me", "+", "a", "+*", "@"}), "me+a+b@xn--bcher-kva.example")
	f.Add(encode([]string{"jörg", "@", "Bücher.Example"}, []string{"*", "@", "xn--bcher-kva.example"}), "JöRG@bücher.example")
	f.Add(encode([]string{"me", "@"}, []string{"*"}), "me")
	f.Add([]byte{}, `"me"@example.com`)
	f.Add(encode([]string{"SRS0=", "*", "@", "example.com"}, []string{"srs0", "*", "@"}, []string{"SRS0=", "a", "*", "@", "example.com"}), "srs0=a=b@example.com")
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
		// The fuzzed recipient, each field as a recipient too, and each
		// field made into a recipient its pattern would match: '*' as a
		// tag or local part, example.com as the domain.
		rcpts := append(fields, rcpt)
		for _, f := range fields {
			r := strings.ReplaceAll(f, "*", "zz")
			if strings.HasSuffix(r, "@") {
				r += "example.com"
			}
			rcpts = append(rcpts, r)
		}
		for _, r := range rcpts {
			got, _, ok := mux.Match(r)
			want, wantOK := refMatch(registered, r)
			if got != want || ok != wantOK {
				t.Fatalf("patterns %q: Match(%q) = %q, %v; the reference says %q, %v", registered, r, got, ok, want, wantOK)
			}
		}
	})
}
