// Package certs gives a *tls.Config its certificate: from PEM files that are
// reloaded when they change (KeyPair), or from an ACME certificate authority
// such as Let's Encrypt (NewACME, RFC 8555), so that no certbot is needed:
// the process answers the CA's TLS-ALPN-01 (RFC 8737) and HTTP-01
// challenges itself.
//
// Both are used through tls.Config.GetCertificate. A handshake gets a
// *tls.Certificate that is never changed afterwards, so a connection set up
// before a reload keeps the certificate it was given.
package certs
