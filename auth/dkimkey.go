package auth

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// ParseSigningKey reads a PEM private key (PKCS#1 "RSA PRIVATE KEY", PKCS#8
// "PRIVATE KEY" holding RSA or Ed25519) for DKIM/ARC signing; RSA keys
// under 1024 bits are refused (RFC 8301 §3.2), and the error says what the
// file held.
//
// openssl genrsa 2048 and openssl genpkey -algorithm ed25519 write such
// keys. Blocks that hold no private key (a certificate, EC parameters) are
// passed over; the first private key is the one read.
func ParseSigningKey(pemData []byte) (crypto.Signer, error) {
	var others []string
	for rest := pemData; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if !strings.HasSuffix(block.Type, "PRIVATE KEY") {
			others = append(others, block.Type)
			continue
		}
		if strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED") || block.Type == "ENCRYPTED PRIVATE KEY" {
			return nil, fmt.Errorf("auth: DKIM key: the %s is encrypted; write it without a passphrase (openssl pkey -in FILE -out NEWFILE)", block.Type)
		}
		switch block.Type {
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("auth: DKIM key: the RSA PRIVATE KEY does not parse as PKCS#1: %v", err)
			}
			return checkRSA(k, "PKCS#1")
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("auth: DKIM key: the PKCS#8 PRIVATE KEY does not parse, or holds a key of an algorithm DKIM does not sign with: %v", err)
			}
			switch k := k.(type) {
			case *rsa.PrivateKey:
				return checkRSA(k, "PKCS#8")
			case ed25519.PrivateKey:
				return k, nil
			}
			return nil, fmt.Errorf("auth: DKIM key: the PKCS#8 PRIVATE KEY holds %s; DKIM signs with RSA (RFC 6376 §3.3) or Ed25519 (RFC 8463)", keyKind(k))
		}
		return nil, fmt.Errorf("auth: DKIM key: the PEM's private key is a %s block; DKIM signs with RSA (RFC 6376 §3.3) or Ed25519 (RFC 8463), "+
			"read from a PKCS#1 RSA PRIVATE KEY or a PKCS#8 PRIVATE KEY block", block.Type)
	}
	if len(others) == 0 {
		return nil, errors.New(`auth: DKIM key: no PEM data; want a "-----BEGIN PRIVATE KEY-----" or "-----BEGIN RSA PRIVATE KEY-----" block`)
	}
	return nil, fmt.Errorf("auth: DKIM key: no private key in the PEM, which holds %s", strings.Join(others, ", "))
}

// checkRSA returns k unless it is too short to sign with.
func checkRSA(k *rsa.PrivateKey, form string) (crypto.Signer, error) {
	if bits := k.N.BitLen(); bits < minRSABits {
		return nil, fmt.Errorf("auth: DKIM key: the %s key is RSA of %d bits; verifiers refuse keys under %d bits (RFC 8301 §3.2): make one of 2048",
			form, bits, minRSABits)
	}
	return k, nil
}

// keyKind names the kind of a key DKIM does not use, for errors.
func keyKind(k any) string {
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		return "an ECDSA key (" + k.Curve.Params().Name + ")"
	case *ecdsa.PublicKey:
		return "an ECDSA key (" + k.Curve.Params().Name + ")"
	case *ecdh.PrivateKey:
		return fmt.Sprintf("an ECDH key (%v), which does not sign", k.Curve())
	case *ecdh.PublicKey:
		return fmt.Sprintf("an ECDH key (%v), which does not sign", k.Curve())
	case nil:
		return "no key"
	}
	return fmt.Sprintf("a key of type %T", k)
}

// DKIMKeyRecord returns the TXT record value to publish at
// <selector>._domainkey.<domain> for key's public half: "v=DKIM1; k=rsa;
// p=..." or "v=DKIM1; k=ed25519; p=..." (RFC 6376 §3.6.1, RFC 8463).
//
// pub is an *rsa.PublicKey or an ed25519.PublicKey, or a private key whose
// public half is one (what ParseSigningKey returns). The RSA p= is the
// base64 of the DER SubjectPublicKeyInfo, as openssl rsa -pubout writes it
// and verifiers read it; the Ed25519 p= is the base64 of the 32-byte key
// (RFC 8463 §4). An RSA record of 2048 bits is about 400 octets, more than
// one TXT character-string holds: in a zone file it is written as several
// strings, which DNS joins (RFC 6376 §3.6.2.2).
func DKIMKeyRecord(pub crypto.PublicKey) (string, error) {
	if k, ok := pub.(interface{ Public() crypto.PublicKey }); ok {
		pub = k.Public()
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return "", errors.New("auth: DKIMKeyRecord: nil RSA key")
		}
		if bits := k.N.BitLen(); bits < minRSABits {
			return "", fmt.Errorf("auth: DKIMKeyRecord: RSA key of %d bits; verifiers refuse keys under %d bits (RFC 8301 §3.2)", bits, minRSABits)
		}
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return "", fmt.Errorf("auth: DKIMKeyRecord: %v", err)
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return "", fmt.Errorf("auth: DKIMKeyRecord: Ed25519 key of %d bytes, want %d", len(k), ed25519.PublicKeySize)
		}
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k), nil
	}
	return "", fmt.Errorf("auth: DKIMKeyRecord: %s; DKIM publishes RSA (RFC 6376 §3.6.1) or Ed25519 (RFC 8463) keys", keyKind(pub))
}
