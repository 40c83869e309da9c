// Package ascii folds case the way mail protocols compare names: ASCII
// letters only (RFC 4343 §3, RFC 5321 §2.4). strings.ToLower and
// strings.EqualFold fold letters beyond ASCII too, so that U+212A KELVIN
// SIGN would equal "k".
package ascii

// Lower returns s with its ASCII upper-case letters made lower case and
// every other byte kept. It allocates only when s has such a letter.
func Lower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// EqualFold reports whether a and b are equal when their ASCII letters are
// compared without regard to case; other bytes compare as they are.
func EqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
