package srs

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"time"

	"github.com/ownmx/ownmx/internal/ascii"
)

// hashLength is the number of base64 characters of the HMAC an address
// carries: libsrs2's and postsrsd's default.
const hashLength = 4

// hash returns the first hashLength characters of the base64 of
// HMAC-SHA1(Secrets[i], parts), each part lower-cased in ASCII, as libsrs2
// makes them.
func (r *Rewriter) hash(i int, parts ...string) string {
	m := hmac.New(sha1.New, r.Secrets[i])
	for _, p := range parts {
		m.Write([]byte(ascii.Lower(p)))
	}
	return base64.StdEncoding.EncodeToString(m.Sum(nil))[:hashLength]
}

// verify reports whether one of the Secrets makes hash from parts, without
// regard to case.
func (r *Rewriter) verify(hash string, parts ...string) bool {
	if len(hash) != hashLength {
		return false
	}
	got := []byte(ascii.Lower(hash))
	ok := 0
	for i := range r.Secrets {
		ok |= subtle.ConstantTimeCompare(got, []byte(ascii.Lower(r.hash(i, parts...))))
	}
	return ok == 1
}

// Timestamps are days since 1970 (UTC) modulo timestampSlots, written in
// two characters of the base32 alphabet of RFC 4648 §6.
const (
	timestampChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	timestampSlots = 1024
)

// dayNumber returns the days since 1970-01-01 UTC at t.
func dayNumber(t time.Time) int {
	s := t.Unix()
	d := s / 86400
	if s < 0 && s%86400 != 0 {
		d--
	}
	return int(d)
}

// timestamp returns the SRS0 timestamp of t.
func timestamp(t time.Time) string {
	d := dayNumber(t) % timestampSlots
	if d < 0 {
		d += timestampSlots
	}
	return string([]byte{timestampChars[d>>5], timestampChars[d&31]})
}

// parseTimestamp returns the day, modulo timestampSlots, that stamp stands
// for; letters may be in either case.
func parseTimestamp(stamp string) (int, bool) {
	if len(stamp) != 2 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(stamp); i++ {
		c := stamp[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		v := -1
		for j := 0; j < len(timestampChars); j++ {
			if timestampChars[j] == c {
				v = j
			}
		}
		if v < 0 {
			return 0, false
		}
		n = n<<5 | v
	}
	return n, true
}
