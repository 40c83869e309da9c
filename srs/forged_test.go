package srs

import (
	"errors"
	"strings"
	"testing"
)

// replacements are the characters each position of an address is changed
// to: every printable ASCII character, a space, UTF-8, a byte that is not
// UTF-8, and nothing (the character deleted).
var replacements = func() []string {
	var rs []string
	for c := ' '; c <= '~'; c++ {
		rs = append(rs, string(c))
	}
	return append(rs, "é", "\u212a", "\xff", "", "==")
}()

// wantAfterChange is what Reverse must say of changed, the local part
// orig of a valid SRS address with one character changed, worked out
// without the package's parser: the same address in other case is valid
// (libsrs2 lower-cases what it hashes and compares hashes without regard
// to case), as is another of the separators "=+-" after the tag; a local
// part that no longer starts with a tag is not SRS; anything else is
// forged.
func wantAfterChange(orig, changed string) error {
	if len(changed) >= 5 && asciiFold(changed[5:]) == asciiFold(orig[5:]) && asciiFold(changed[:4]) == asciiFold(orig[:4]) &&
		strings.ContainsAny(changed[4:5], "=+-") {
		return nil
	}
	if len(changed) < 5 || !(asciiFold(changed[:4]) == "srs0" || asciiFold(changed[:4]) == "srs1") ||
		!strings.ContainsAny(changed[4:5], "=+-") {
		return ErrNotSRS
	}
	return ErrForged
}

// Every single-character change of an SRS0 or SRS1 address (tag, hash,
// timestamp, domain, local part, separators), every deletion and every
// truncation is refused, unless it only changes case or the separator
// after the tag.
func TestForged(t *testing.T) {
	r := atTestNow()
	for _, from := range []string{"alice@example.com", "SRS0=HHHH=TT=orig.example=carol@fwd1.example",
		`"john doe"@example.com`, "用户@example.com"} {
		addr, err := r.Forward(from)
		if err != nil {
			t.Fatal(err)
		}
		// A quoted local part is changed inside its quotes.
		local, quote := strings.TrimSuffix(addr, "@fwd.example"), ""
		if strings.HasPrefix(local, `"`) {
			local, quote = strings.Trim(local, `"`), `"`
		}
		checked, accepted := 0, 0
		check := func(changed string) {
			t.Helper()
			rcpt := quote + changed + quote + "@fwd.example"
			got, err := r.Reverse(rcpt)
			want := wantAfterChange(local, changed)
			checked++
			switch {
			case want == nil && err != nil:
				t.Errorf("Reverse(%q) = %v; the address differs from %q only in case or separator", rcpt, err, addr)
			case want == nil:
				accepted++
				if wantBack, _ := r.Reverse(addr); !strings.EqualFold(got, wantBack) {
					t.Errorf("Reverse(%q) = %q, want %q in some case", rcpt, got, wantBack)
				}
			case !errors.Is(err, want) || got != "":
				t.Errorf("Reverse(%q) = %q, %v; want %v", rcpt, got, err, want)
			}
		}
		for i := range len(local) {
			for _, c := range replacements {
				if c != local[i:i+1] {
					check(local[:i] + c + local[i+1:])
				}
			}
		}
		for i := range len(local) {
			check(local[:i]) // truncated
		}
		check(local + "x")
		// One other case for each letter, two other separators.
		if letters := len(strings.Map(func(r rune) rune {
			if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' {
				return r
			}
			return -1
		}, local)); accepted != letters+2 {
			t.Errorf("%s: %d of %d changes accepted, want %d", addr, accepted, checked, letters+2)
		}
		t.Logf("%s: %d changes, %d accepted (case, separator)", addr, checked, accepted)

		// Truncations of the whole address are never valid.
		for i := range len(addr) {
			if got, err := r.Reverse(addr[:i]); err == nil {
				t.Errorf("Reverse(%q) = %q, want an error", addr[:i], got)
			}
		}
	}
}

// A quoted SRS local part followed by more than its domain is no address.
func TestQuotedJunk(t *testing.T) {
	r := atTestNow()
	addr, _ := r.Forward(`"john doe"@example.com`)
	for _, rcpt := range []string{
		strings.Replace(addr, `"@`, `"@junk@`, 1),
		strings.Replace(addr, `"@`, `"x@`, 1),
		strings.Replace(addr, `"@`, `" @`, 1),
	} {
		if got, err := r.Reverse(rcpt); !errors.Is(err, ErrForged) {
			t.Errorf("Reverse(%q) = %q, %v; want ErrForged", rcpt, got, err)
		}
	}
}

// Upper or lower case, of the whole address or of the hash alone, is
// accepted: mail systems change the case of local parts.
func TestCase(t *testing.T) {
	r := atTestNow()
	addr, _ := r.Forward("Alice@Example.com") // SRS0=hash=BB=Example.com=Alice@fwd.example
	swapHash := addr[:5] + swapCase(addr[5:9]) + addr[9:]
	for rcpt, want := range map[string]string{
		addr:                  "Alice@Example.com",
		strings.ToUpper(addr): "ALICE@EXAMPLE.COM",
		strings.ToLower(addr): "alice@example.com",
		swapHash:              "Alice@Example.com",
	} {
		if got, err := r.Reverse(rcpt); err != nil || got != want {
			t.Errorf("Reverse(%q) = %q, %v; want %q", rcpt, got, err, want)
		}
	}
}

// asciiFold lower-cases ASCII letters only: Unicode folding would take
// U+212A KELVIN SIGN for k, which no SRS implementation does.
func asciiFold(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] += 'a' - 'A'
		}
	}
	return string(b)
}

func swapCase(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z':
			b[i] -= 'a' - 'A'
		case 'A' <= c && c <= 'Z':
			b[i] += 'a' - 'A'
		}
	}
	return string(b)
}

// An address made with another secret is forged; with key rotation the
// first secret signs and every secret verifies.
func TestSecrets(t *testing.T) {
	oldSecret, newSecret := []byte("the secret of last year"), []byte("the secret of this year")
	now := testNow
	withSecrets := func(secrets ...[]byte) *Rewriter {
		r := newRewriter(&now)
		r.Secrets = secrets
		return r
	}
	old, fresh, both := withSecrets(oldSecret), withSecrets(newSecret), withSecrets(newSecret, oldSecret)

	for _, from := range []string{"alice@example.com", "SRS0=HHHH=TT=orig.example=carol@fwd1.example"} {
		byOld, _ := old.Forward(from)
		byNew, _ := fresh.Forward(from)
		if byOld == byNew {
			t.Fatalf("two secrets make one address %q", byOld)
		}
		if got, _ := both.Forward(from); got != byNew {
			t.Errorf("rotation: Forward(%q) = %q, want the first secret's %q", from, got, byNew)
		}
		for _, addr := range []string{byOld, byNew} {
			if _, err := both.Reverse(addr); err != nil {
				t.Errorf("rotation: Reverse(%q): %v", addr, err)
			}
		}
		if _, err := fresh.Reverse(byOld); !errors.Is(err, ErrForged) {
			t.Errorf("Reverse of another secret's %q = %v, want ErrForged", byOld, err)
		}
		if _, err := old.Reverse(byNew); !errors.Is(err, ErrForged) {
			t.Errorf("Reverse of another secret's %q = %v, want ErrForged", byNew, err)
		}
		// Nor does the secret's case matter less than the address's:
		// secrets are bytes.
		if _, err := withSecrets([]byte(strings.ToUpper(string(newSecret)))).Reverse(byNew); !errors.Is(err, ErrForged) {
			t.Errorf("a secret in other case verifies %q: %v", byNew, err)
		}
	}
}
