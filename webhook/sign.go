package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers of a signed webhook (Standard Webhooks, "Webhook headers").
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// DefaultTolerance is how far a webhook's timestamp may lie from the
// receiver's clock, either way, for Verify to accept it: five minutes, as
// the Standard Webhooks reference libraries have it.
const DefaultTolerance = 5 * time.Minute

// secretPrefix marks a symmetric signing secret (Standard Webhooks,
// "Secret serialization").
const secretPrefix = "whsec_"

// Errors of Sign and Verify; the error returned wraps one of them and says
// more (which header, how far off the clock).
var (
	// ErrNoSecret: no secret was given to sign or verify with.
	ErrNoSecret = errors.New("webhook: no secret")
	// ErrSecret: a secret is not "whsec_" followed by base64 (or it is
	// empty once decoded).
	ErrSecret = errors.New("webhook: malformed secret")
	// ErrMissingHeader: webhook-id, webhook-timestamp or
	// webhook-signature is missing or empty.
	ErrMissingHeader = errors.New("webhook: missing header")
	// ErrTimestamp: webhook-timestamp is not a number of seconds.
	ErrTimestamp = errors.New("webhook: malformed webhook-timestamp")
	// ErrTooOld: webhook-timestamp lies further in the past than the
	// tolerance: a replay, or a receiver whose clock is wrong.
	ErrTooOld = errors.New("webhook: timestamp too old")
	// ErrTooNew: webhook-timestamp lies further in the future than the
	// tolerance.
	ErrTooNew = errors.New("webhook: timestamp too new")
	// ErrNoMatch: no v1 signature in webhook-signature matches the body
	// with any of the secrets: the body was changed, or it was signed
	// with another secret, or not by the sender.
	ErrNoMatch = errors.New("webhook: no signature matches")
)

// NewSecret returns a new random signing secret: "whsec_" and 32 random
// bytes in base64, in the middle of the 24 to 64 bytes that Standard
// Webhooks asks for. Give it to the sender (Endpoint.Secrets) and to the
// receiver (Verify).
func NewSecret() string {
	key := make([]byte, 32)
	rand.Read(key) // never fails (crypto/rand)
	return secretPrefix + base64.StdEncoding.EncodeToString(key)
}

// parseSecret returns the HMAC key of a secret: the base64 after "whsec_".
// As the reference libraries do, a secret without the prefix is taken as
// bare base64.
func parseSecret(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, secretPrefix))
	if err != nil || len(key) == 0 {
		// The secret itself is not quoted: it must not reach a log.
		return nil, fmt.Errorf("%w: want %q and base64 of 24 to 64 random bytes", ErrSecret, secretPrefix)
	}
	return key, nil
}

// parseSecrets returns the keys of secrets, or the first one's error.
func parseSecrets(secrets []string) ([][]byte, error) {
	if len(secrets) == 0 {
		return nil, ErrNoSecret
	}
	keys := make([][]byte, len(secrets))
	for i, s := range secrets {
		k, err := parseSecret(s)
		if err != nil {
			return nil, fmt.Errorf("secret %d of %d: %w", i+1, len(secrets), err)
		}
		keys[i] = k
	}
	return keys, nil
}

// signature returns the base64 HMAC-SHA256, keyed with key, of
// id "." timestamp "." body: the content Standard Webhooks signs.
func signature(key []byte, id string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, timestamp, 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// signReader is sign for a body read from r, once, whatever the number of
// keys.
func signReader(keys [][]byte, id string, timestamp int64, r io.Reader) (string, error) {
	prefix := strconv.AppendInt([]byte(id+"."), timestamp, 10)
	prefix = append(prefix, '.')
	macs := make([]io.Writer, len(keys))
	for i, k := range keys {
		mac := hmac.New(sha256.New, k)
		mac.Write(prefix)
		macs[i] = mac
	}
	if _, err := io.Copy(io.MultiWriter(macs...), r); err != nil {
		return "", err
	}
	var b strings.Builder
	for i, mac := range macs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("v1,")
		b.WriteString(base64.StdEncoding.EncodeToString(mac.(hash.Hash).Sum(nil)))
	}
	return b.String(), nil
}

// Sign returns the webhook-signature header of a webhook with the given
// id, timestamp (sent as Unix seconds in webhook-timestamp) and body: one
// "v1," signature per secret, separated by spaces, in the order of the
// secrets. Several secrets let a receiver move to a new secret without
// losing a webhook: sign with the old and the new one until every receiver
// knows the new one.
func Sign(id string, timestamp time.Time, body []byte, secrets ...string) (string, error) {
	keys, err := parseSecrets(secrets)
	if err != nil {
		return "", err
	}
	return sign(keys, id, timestamp.Unix(), body), nil
}

// sign is signReader for a body in memory.
func sign(keys [][]byte, id string, timestamp int64, body []byte) string {
	s, _ := signReader(keys, id, timestamp, bytes.NewReader(body)) // a bytes.Reader does not fail
	return s
}

// Verify checks a webhook as a receiver gets it, with the default
// Verifier: its headers carry a v1 signature of body made with one of the
// secrets, and a timestamp within DefaultTolerance of the clock. body must
// be the request's body exactly as received, before any JSON decoding.
// See Verifier.Verify.
func Verify(header http.Header, body []byte, secrets ...string) error {
	v := Verifier{Secrets: secrets}
	return v.Verify(header, body)
}

// Verifier checks webhooks for a receiver. Its zero value with Secrets set
// is ready to use.
type Verifier struct {
	// Secrets are the secrets a signature may be made with: during a
	// rotation, the old and the new one. A webhook passes when any of its
	// signatures matches any of them.
	Secrets []string
	// Tolerance is how far webhook-timestamp may lie from Now, either way.
	// Zero means DefaultTolerance; a negative value means no check, which
	// leaves a receiver open to replays of old webhooks.
	Tolerance time.Duration
	// Now gives the time. Default: time.Now.
	Now func() time.Time
}

// Verify returns nil if header (the request's, or any with the three
// webhook- fields) has a webhook-timestamp within the Tolerance and a
// webhook-signature holding a v1 signature of webhook-id, webhook-timestamp
// and body made with one of the Secrets. Signatures are compared in
// constant time; other versions than v1 (v1a, asymmetric) are passed over.
// Otherwise the error wraps ErrNoSecret, ErrSecret, ErrMissingHeader,
// ErrTimestamp, ErrTooOld, ErrTooNew or ErrNoMatch.
//
// A receiver should also keep the webhook-id of the webhooks it has
// handled for a while, and handle one only once: a webhook whose answer
// was lost is sent again with the same webhook-id.
func (v *Verifier) Verify(header http.Header, body []byte) error {
	keys, err := parseSecrets(v.Secrets)
	if err != nil {
		return err
	}
	id, ts, sigs := header.Get(HeaderID), header.Get(HeaderTimestamp), header.Get(HeaderSignature)
	for _, h := range [...]struct{ name, value string }{{HeaderID, id}, {HeaderTimestamp, ts}, {HeaderSignature, sigs}} {
		if h.value == "" {
			return fmt.Errorf("%w %s", ErrMissingHeader, h.name)
		}
	}
	timestamp, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || ts[0] == '+' {
		return fmt.Errorf("%w %q: want Unix seconds", ErrTimestamp, clip(ts, 40))
	}
	if err := v.checkTime(timestamp); err != nil {
		return err
	}
	var n int
	for _, s := range strings.Fields(sigs) {
		version, sig, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		n++
		for _, k := range keys {
			if hmac.Equal([]byte(sig), []byte(signature(k, id, timestamp, body))) {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: %d v1 signatures tried with %d secrets", ErrNoMatch, n, len(keys))
}

// checkTime returns ErrTooOld or ErrTooNew if timestamp lies beyond the
// tolerance from now.
func (v *Verifier) checkTime(timestamp int64) error {
	tolerance := v.Tolerance
	if tolerance == 0 {
		tolerance = DefaultTolerance
	}
	if tolerance < 0 {
		return nil
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	// In seconds, as the header is: no overflow of time.Duration for the
	// timestamps far from now that a forger may send.
	t, tol := now().Unix(), int64(tolerance/time.Second)
	switch {
	case timestamp < t-tol:
		return fmt.Errorf("%w: %d, now %d, beyond the tolerance of %v", ErrTooOld, timestamp, t, tolerance)
	case timestamp > t+tol:
		return fmt.Errorf("%w: %d, now %d, beyond the tolerance of %v", ErrTooNew, timestamp, t, tolerance)
	}
	return nil
}

// clip returns s cut to n bytes, for quoting input in an error.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
