package auth

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/emersion/go-msgauth/dkim"
)

// DKIMResult is the outcome of checking one DKIM-Signature (RFC 6376).
type DKIMResult struct {
	// Result is pass, fail, temperror or permerror. A signature made with
	// rsa-sha1 (RFC 8301 §3.1), with an RSA key under 1024 bits (RFC 8301
	// §3.2) or past its x= expiry is permerror, never pass.
	Result Result
	// Domain is the signing domain, d=.
	Domain string
	// Identifier is the agent or user identifier, i=, or "@" + Domain.
	Identifier string
	// Err says why the result is not pass, for logs; nil on pass.
	Err error
}

// readErrReader remembers the first error of its reader other than io.EOF,
// to tell a failing reader from a malformed message: dkim returns both as
// plain errors.
type readErrReader struct {
	r   io.Reader
	err error
}

func (r *readErrReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}

// DKIM checks the DKIM signatures of the message r yields, the first
// MaxSignatures of them in header order, and returns one result per
// signature checked: none at all means the message is unsigned. Signatures
// are checked with rsa-sha256 and ed25519-sha256 (RFC 8463). A DNS failure
// that may go away is temperror; a key that does not exist is permerror
// (RFC 6376 §6.1.2). The error is r's, when reading fails.
func (c *Checker) DKIM(ctx context.Context, r io.Reader) ([]DKIMResult, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	res := c.resolver()
	rr := &readErrReader{r: r}
	verifs, err := dkim.VerifyWithOptions(rr, &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			txt, err := res.LookupTXT(ctx, name)
			return txt, normalize(name, err)
		},
		MaxVerifications: c.maxSignatures(),
	})
	if rr.err != nil {
		return nil, rr.err
	}
	switch {
	case errors.Is(err, dkim.ErrTooManySignatures):
		c.logger().InfoContext(ctx, "DKIM: message has more signatures than are checked", "checked", len(verifs))
	case err != nil:
		// A header dkim cannot read: no signature can be trusted.
		return []DKIMResult{{Result: PermError, Err: fmt.Errorf("auth: dkim: %w", err)}}, nil
	}
	now := c.now()
	out := make([]DKIMResult, 0, len(verifs))
	for _, v := range verifs {
		d := DKIMResult{Result: Pass, Domain: v.Domain, Identifier: v.Identifier}
		switch {
		case v.Err == nil && !v.Expiration.IsZero() && now.After(v.Expiration):
			// dkim compares x= with the machine's clock; Now is the one
			// that counts here (RFC 6376 §3.5 x=).
			d.Result = PermError
			d.Err = fmt.Errorf("auth: dkim: signature of %s expired at %s", v.Domain, v.Expiration.UTC().Format("2006-01-02T15:04:05Z"))
		case v.Err == nil:
		case dkim.IsTempFail(v.Err):
			d.Result = TempError
			d.Err = fmt.Errorf("auth: dkim: signature of %q: %w", v.Domain, v.Err)
			c.logger().WarnContext(ctx, "DKIM key lookup failed temporarily", "domain", v.Domain, "err", v.Err)
		case dkim.IsPermFail(v.Err):
			d.Result = PermError
			d.Err = fmt.Errorf("auth: dkim: signature of %q: %w", v.Domain, v.Err)
		default:
			d.Result = Fail
			d.Err = fmt.Errorf("auth: dkim: signature of %q: %w", v.Domain, v.Err)
		}
		out = append(out, d)
	}
	return out, nil
}
