package auth

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
)

// This file finds the keys of ARC signatures (DKIM key records, RFC 6376
// §3.6) and checks signatures with them: rsa-sha256 with keys of 1024
// bits or more (RFC 8301 §3.2) and ed25519-sha256 (RFC 8463).

// arcKey is a public key from a DKIM key record.
type arcKey struct {
	rsa *rsa.PublicKey    // k=rsa
	ed  ed25519.PublicKey // k=ed25519
	h   []string          // the hash algorithms the key may be used with; nil: any
}

// arcError is why a chain is not pass: Result is Fail or TempError.
type arcError struct {
	result Result
	reason string
}

func (e *arcError) Error() string { return e.reason }

// chainFail returns a failure of the chain, its reason formatted.
func chainFail(format string, args ...any) *arcError {
	return &arcError{result: Fail, reason: fmt.Sprintf(format, args...)}
}

// minRSABits is the smallest RSA key a signature may use (RFC 8301 §3.2).
const minRSABits = 1024

// parseKeyRecord reads a DKIM key record (RFC 6376 §3.6.1). An empty p=
// is a revoked key; a key whose s= service types name neither email nor
// "*" is not one for mail; unknown tags are ignored.
func parseKeyRecord(txt string) (*arcKey, error) {
	tags, err := parseTagList(txt)
	if err != nil {
		return nil, err
	}
	if v, ok := tags["v"]; ok && v != "DKIM1" {
		return nil, fmt.Errorf("v=%s is not DKIM1", truncate(v, 20))
	}
	p, ok := tags["p"]
	if !ok {
		return nil, fmt.Errorf("no p=")
	}
	p = stripFWS(p)
	if p == "" {
		return nil, fmt.Errorf("key revoked (empty p=)")
	}
	der, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		return nil, fmt.Errorf("p= is not base64")
	}
	if s, ok := tags["s"]; ok {
		types := headerNames(s)
		if !slices.Contains(types, "email") && !slices.Contains(types, "*") {
			return nil, fmt.Errorf("key not for email (s=%s)", truncate(s, 20))
		}
	}
	key := &arcKey{}
	if h, ok := tags["h"]; ok {
		key.h = headerNames(h)
	}
	switch k := tags["k"]; k {
	case "", "rsa":
		pub, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			// RFC 6376 errata 3017: an RSAPublicKey is taken too.
			pub, err = x509.ParsePKCS1PublicKey(der)
			if err != nil {
				return nil, fmt.Errorf("p= is not an RSA public key")
			}
		}
		rk, ok := pub.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("p= is not an RSA public key")
		}
		if rk.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA key of %d bits, under %d (RFC 8301 §3.2)", rk.N.BitLen(), minRSABits)
		}
		key.rsa = rk
	case "ed25519":
		if len(der) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("Ed25519 key of %d bytes", len(der))
		}
		key.ed = ed25519.PublicKey(der)
	default:
		return nil, fmt.Errorf("unknown key type k=%s", truncate(k, 20))
	}
	return key, nil
}

// arcAlgorithm checks a signature's a= tag: rsa-sha256 or ed25519-sha256
// (RFC 8617 §4.1.2 takes DKIM's, RFC 8463 adds Ed25519). rsa-sha1 is
// refused (RFC 8301 §3.1).
func arcAlgorithm(a string) (string, error) {
	switch a = strings.ToLower(a); a {
	case "rsa-sha256", "ed25519-sha256":
		return a, nil
	case "rsa-sha1":
		return "", fmt.Errorf("a=rsa-sha1 is not accepted (RFC 8301 §3.1)")
	}
	return "", fmt.Errorf("unknown algorithm a=%s", truncate(a, 20))
}

// verify checks sig, made with algorithm alg (from arcAlgorithm) over the
// SHA-256 hash digest.
func (k *arcKey) verify(alg string, digest, sig []byte) error {
	if k.h != nil && !slices.Contains(k.h, "sha256") {
		return fmt.Errorf("key not for sha256 (h=%s)", strings.Join(k.h, ":"))
	}
	switch {
	case alg == "rsa-sha256" && k.rsa != nil:
		if rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, digest, sig) != nil {
			return fmt.Errorf("signature did not verify")
		}
	case alg == "ed25519-sha256" && k.ed != nil:
		if !ed25519.Verify(k.ed, digest, sig) {
			return fmt.Errorf("signature did not verify")
		}
	default:
		return fmt.Errorf("key type does not match a=%s", alg)
	}
	return nil
}

// keyLookup finds the keys of one chain, each selector and domain once.
type keyLookup struct {
	c    *Checker
	ctx  context.Context
	seen map[string]keyAnswer
}

type keyAnswer struct {
	key *arcKey
	err *arcError
}

// key returns the key at selector._domainkey.domain, or why there is none:
// Fail for a key that does not exist or cannot be used, TempError for a
// DNS failure that may go away.
func (l *keyLookup) key(selector, domain string) (*arcKey, *arcError) {
	name := selector + "._domainkey." + domain
	if a, ok := l.seen[name]; ok {
		return a.key, a.err
	}
	key, err := l.lookup(name)
	if l.seen == nil {
		l.seen = make(map[string]keyAnswer)
	}
	l.seen[name] = keyAnswer{key, err}
	return key, err
}

func (l *keyLookup) lookup(name string) (*arcKey, *arcError) {
	ascii, err := dkimKeyName(name)
	if err != nil || !isDomainName(strings.TrimSuffix(ascii, ".")) {
		return nil, chainFail("invalid key name %s", truncate(name, 80))
	}
	txts, err := l.c.resolver().LookupTXT(l.ctx, ascii)
	switch classify(err) {
	case dnsOK:
	case dnsNotFound:
		return nil, chainFail("no key at %s", ascii)
	case dnsTemporary:
		l.c.logger().WarnContext(l.ctx, "ARC key lookup failed temporarily", "name", ascii, "err", err)
		return nil, &arcError{result: TempError, reason: "key lookup of " + ascii + " failed temporarily"}
	default:
		return nil, chainFail("key lookup of %s failed", ascii)
	}
	switch len(txts) {
	case 0:
		return nil, chainFail("no key at %s", ascii)
	case 1:
	default:
		return nil, chainFail("%d TXT records at %s", len(txts), ascii)
	}
	key, err := parseKeyRecord(txts[0])
	if err != nil {
		return nil, chainFail("key at %s: %v", ascii, err)
	}
	return key, nil
}
