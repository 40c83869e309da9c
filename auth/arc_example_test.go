package auth_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"os"

	"github.com/ownmx/ownmx/auth"
	"github.com/ownmx/ownmx/dnsx"
)

// A forwarder validates the chain of a message it received, then adds its
// own ARC set with its results, so that the destination sees that SPF,
// DKIM and DMARC passed here. The set goes on top of the message, which
// is not changed. spool is the received message, which is read three
// times (a file, or smtpd.Reread in a handler).
func ExampleSealer_Seal() {
	checker := &auth.Checker{Resolver: dnsx.NewCache(dnsx.NewResolver("127.0.0.53:53"), 0)}
	pemKey, err := os.ReadFile("/etc/ownmx/arc-rsa.pem") // published at arc._domainkey.example.com
	if err != nil {
		return
	}
	block, _ := pem.Decode(pemKey)
	if block == nil {
		return
	}
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		return
	}
	sealer := &auth.Sealer{Domain: "example.com", Selector: "arc", Key: key, AuthServID: "mx.example.com"}

	forward := func(ctx context.Context, spool io.ReadSeeker, res *auth.Results, out io.Writer) error {
		chain := checker.ARC(ctx, spool)
		if _, err := spool.Seek(0, io.SeekStart); err != nil {
			return err
		}
		set, err := sealer.Seal(spool, res, chain)
		switch {
		case errors.Is(err, auth.ErrARCChainTempError):
			return err // try again later (451), or forward without a set
		case errors.Is(err, auth.ErrARCChainEnded):
			set = nil // forward as it is
		case err != nil:
			return err
		}
		if _, err := spool.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if _, err := out.Write(set); err != nil {
			return err
		}
		_, err = io.Copy(out, spool)
		return err
	}
	_ = forward
}
