package auth

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"

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

// ErrDKIMStopped is wrapped, with the context's error, in the Err of a
// DKIMResult whose signature was left unchecked because the check was
// stopped while it read the message: its context ended or Checker.Timeout
// passed.
var ErrDKIMStopped = errors.New("auth: dkim: check stopped before the end")

// DKIM checks the DKIM signatures of the message r yields, the first
// MaxSignatures of them in header order, and returns one result per
// signature checked: none at all means the message is unsigned. Signatures
// are checked with rsa-sha256 and ed25519-sha256 (RFC 8463). A DNS failure
// that may go away is temperror; a key that does not exist is permerror
// (RFC 6376 §6.1.2). The error is r's, when reading fails.
//
// Timeout bounds the whole check, hashing the body included, and the check
// stops when ctx ends: r is not read further, and a signature whose body
// was not hashed to the end is temperror, its Err wrapping ErrDKIMStopped
// (one whose key lookup was cut short is temperror as any DNS failure).
// Checking costs time in proportion to the message's size, whatever its
// body holds.
func (c *Checker) DKIM(ctx context.Context, r io.Reader) ([]DKIMResult, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	rr := &readErrReader{r: r}
	br := bufio.NewReader(ctxReader{ctx: ctx, r: rr})
	h, err := readDKIMHeader(br)
	switch {
	case rr.err != nil:
		return nil, rr.err
	case isContextErr(err):
		return []DKIMResult{{Result: TempError, Err: stopped(err)}}, nil
	case err != nil:
		// A header dkim cannot read: no signature can be trusted.
		return []DKIMResult{{Result: PermError, Err: fmt.Errorf("auth: dkim: %w", err)}}, nil
	}
	sigs := h.signatures()
	if len(sigs) > c.maxSignatures() {
		c.logger().InfoContext(ctx, "DKIM: message has more signatures than are checked", "checked", c.maxSignatures())
		sigs = sigs[:c.maxSignatures()]
	}
	res := c.resolver()
	lookup := func(name string) ([]string, error) {
		ascii, err := dkimKeyName(name)
		if err != nil {
			return nil, &net.DNSError{Err: "invalid domain name", Name: name, IsNotFound: true, UnwrapErr: err}
		}
		txt, err := res.LookupTXT(ctx, ascii)
		return txt, normalize(ascii, err)
	}

	// One verifier per signature, all fed from one reading of the body.
	out := make([]DKIMResult, len(sigs))
	feeds := make([]*bodyFeed, len(sigs))
	var wg sync.WaitGroup
	for k, i := range sigs {
		feeds[k] = newBodyFeed(h.viewFor(i))
		wg.Go(func() {
			defer feeds[k].finish()
			out[k] = c.verifyOne(ctx, feeds[k], lookup, h[i])
		})
	}
	feedBody(ctx, br, feeds)
	wg.Wait()
	if rr.err != nil {
		return nil, rr.err
	}
	return out, nil
}

// verifyOne checks the one signature, field, that comes first among the
// DKIM-Signature fields of the header feed yields.
func (c *Checker) verifyOne(ctx context.Context, feed *bodyFeed, lookup func(string) ([]string, error), field string) DKIMResult {
	verifs, err := dkim.VerifyWithOptions(feed, &dkim.VerifyOptions{LookupTXT: lookup, MaxVerifications: 1})
	if errors.Is(err, dkim.ErrTooManySignatures) {
		err = nil // the fields below the one checked
	}
	if err == nil && len(verifs) != 1 {
		err = fmt.Errorf("dkim found %d signatures in a header with one to check", len(verifs))
	}
	if err != nil {
		d := DKIMResult{Result: PermError, Err: fmt.Errorf("auth: dkim: %w", err)}
		d.Domain, d.Identifier = signer(field)
		if isContextErr(err) {
			d.Result, d.Err = TempError, stopped(err)
		}
		// Else reading the body failed, which DKIM returns, or dkim read
		// the header differently, which the tests rule out.
		return d
	}
	v := verifs[0]
	d := DKIMResult{Result: Pass, Domain: v.Domain, Identifier: v.Identifier}
	if a, err := ASCIIDomain(v.Domain); err == nil {
		d.Domain = a // the form DMARC aligns and Authentication-Results shows
	}
	switch {
	case v.Err == nil && !v.Expiration.IsZero() && c.now().After(v.Expiration):
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
	return d
}

// isContextErr reports whether err comes from a context that ended.
func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// stopped returns the Err of a signature left unchecked: ErrDKIMStopped
// and the context's error.
func stopped(ctxErr error) error {
	if errors.Is(ctxErr, context.DeadlineExceeded) {
		ctxErr = context.DeadlineExceeded // not the chain that led to it
	} else {
		ctxErr = context.Canceled
	}
	return fmt.Errorf("%w: %w", ErrDKIMStopped, ctxErr)
}

// dkimKeyName returns the name of a DKIM key record,
// selector._domainkey.domain, with the selector and the domain in A-labels
// (RFC 8616 §4): a signature whose d= is written in U-labels, such as
// bücher.example, finds its key at xn--bcher-kva.example. "_domainkey"
// itself is no host name and stays as it is.
func dkimKeyName(name string) (string, error) {
	sel, domain, ok := strings.Cut(name, "._domainkey.")
	if !ok {
		return toASCII(name)
	}
	s, err := toASCII(sel)
	if err != nil {
		return "", err
	}
	d, err := toASCII(domain)
	if err != nil {
		return "", err
	}
	return s + "._domainkey." + d, nil
}
