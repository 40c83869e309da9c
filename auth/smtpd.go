package auth

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-msgauth/dmarc"

	"github.com/ownmx/ownmx/smtpd"
)

// This file wires a Checker into an smtpd.Server:
//
//	checker := &auth.Checker{Resolver: resolver}
//	srv := &smtpd.Server{
//		Hostname: "mx.example.com",
//		Mail:     checker.MailHandler(nil),
//		Rcpt:     rcpt,
//		Data:     smtpd.Chain(store, checker.Middleware("mx.example.com")),
//	}

// spfKey is the Envelope value key under which MailHandler leaves the SPF
// result for Middleware.
type spfKey struct{}

// resultsKey is the Envelope value key under which Middleware leaves the
// Results of the message for the handlers after it.
type resultsKey struct{}

// Replies of the smtpd glue.
var (
	// ErrRejected is the reply to a message whose sender domain's DMARC
	// policy says reject (RFC 7489 §6.3 p=reject, RFC 7372 for the code).
	ErrRejected = &smtpd.Error{Code: 550, Enhanced: smtpd.EnhancedCode{5, 7, 1},
		Message: "Message refused: it fails DMARC and the sender domain's policy is to reject it"}
	// ErrFromRefused is the reply to a message whose From header DMARC
	// cannot judge cleanly: missing, given more than once, naming several
	// authors or not parsing as one mailbox at a domain (ErrUnusableFrom;
	// RFC 5322 §3.6, RFC 7489 §6.6.1).
	ErrFromRefused = &smtpd.Error{Code: 550, Enhanced: smtpd.EnhancedCode{5, 7, 1},
		Message: "Message refused: its From header must name exactly one author at a valid domain (RFC 5322 section 3.6.2)"}
	// ErrDeferred is the reply when a DNS temporary failure left the DMARC
	// verdict open: the client should try again later.
	ErrDeferred = &smtpd.Error{Code: 451, Enhanced: smtpd.EnhancedCode{4, 7, 0},
		Message: "Temporary DNS failure while checking the sender's authentication (DMARC), please try again later"}
	// ErrUnfinished is the reply when the check of a message was stopped
	// before its end: the connection's context ended, or a DKIM signature
	// was not verified within Checker.Timeout. Results left half-checked
	// are neither a pass nor a refusal: the client should try again later.
	ErrUnfinished = &smtpd.Error{Code: 451, Enhanced: smtpd.EnhancedCode{4, 3, 0},
		Message: "Checking the sender's authentication did not finish, please try again later"}
	// ErrHeaderRefused is the reply to a message whose header cannot be
	// read or is too large to check.
	ErrHeaderRefused = &smtpd.Error{Code: 554, Enhanced: smtpd.EnhancedCode{5, 6, 0},
		Message: "Message refused: its header is malformed or too large (RFC 5322 section 2.2)"}
)

// SPFFrom returns the SPF result that MailHandler left in env, if any.
func SPFFrom(env *smtpd.Envelope) (SPFResult, bool) {
	r, ok := env.Value(spfKey{}).(SPFResult)
	return r, ok
}

// ResultsFrom returns the Results of the message that Middleware left in
// env for the handlers after it: the SPF, DKIM and DMARC results and the
// verdict that its Authentication-Results header shows, under
// AnnotateOnly too, and for a client in Checker.Trusted, Results that
// say so (Results.Trusted: none, none, none, deliver). It reports false
// when the middleware has not run, or passed the message on unchecked
// (AnnotateOnly, with a header it could not read). The Results are
// shared: read them, do not change them.
func ResultsFrom(env *smtpd.Envelope) (*Results, bool) {
	r, ok := env.Value(resultsKey{}).(*Results)
	return r, ok
}

// MailHandler returns an smtpd.MailHandler that checks SPF at MAIL FROM
// (the client's address, its HELO name and the reverse-path; the null
// sender is checked via HELO) and keeps the result in the Envelope for
// Middleware, then calls next, if not nil. It never refuses a sender
// itself: SPF fail alone does not refuse, DMARC decides after DATA. A
// client in Checker.Trusted is not checked.
func (c *Checker) MailHandler(next smtpd.MailHandler) smtpd.MailHandler {
	return smtpd.MailFunc(func(ctx context.Context, env *smtpd.Envelope) error {
		if !c.trustsClient(env) {
			env.SetValue(spfKey{}, c.spfOf(ctx, env))
		}
		if next == nil {
			return nil
		}
		return next.Mail(ctx, env)
	})
}

// spfOf checks SPF for the transaction env describes.
func (c *Checker) spfOf(ctx context.Context, env *smtpd.Envelope) SPFResult {
	var helo string
	var ip netip.Addr
	if env.Conn != nil {
		helo, ip = env.Conn.Helo, env.Conn.RemoteAddr.Addr()
	}
	return c.SPF(ctx, ip, helo, env.From)
}

// Middleware returns an smtpd.Middleware that authenticates each message
// before passing it on. It spools the message once (smtpd.Spool), checks
// DKIM and DMARC with the SPF result MailHandler left (or checks SPF
// itself when there is none), removes the Authentication-Results fields
// that claim authservID (RFC 8601 §5), prepends its own, and applies the
// verdict:
//
//   - Deliver: next receives the message.
//   - Quarantine: env.Quarantine is set and next receives the message.
//   - Reject: ErrRejected (550 5.7.1), or ErrFromRefused (550 5.7.1) for
//     a From header that DMARC cannot judge cleanly; next is not called,
//     nothing is stored.
//   - Defer: ErrDeferred (451 4.7.0); next is not called.
//
// A check stopped before its end, by ctx or by Checker.Timeout while a
// DKIM body was being hashed, is ErrUnfinished (451 4.3.0), whatever the
// verdict.
//
// With AnnotateOnly, next always receives the message and env.Quarantine
// is left alone. A client in Checker.Trusted gets no check and no
// verdict: next receives its message with "Authentication-Results:
// authservID; none", after the forged fields are removed.
//
// Before it applies the verdict, the middleware leaves the Results in
// env, where the handlers after it find them with ResultsFrom. The
// reader next receives can be read again without a copy (smtpd.Reread),
// our Authentication-Results field included: it reads the spool, which
// stays open until next returns and is closed after. authservID is the
// server's host name; "" means os.Hostname().
func (c *Checker) Middleware(authservID string) smtpd.Middleware {
	if authservID == "" {
		authservID, _ = os.Hostname()
	}
	return func(next smtpd.DataHandler) smtpd.DataHandler {
		return smtpd.DataFunc(func(ctx context.Context, env *smtpd.Envelope, r io.Reader) error {
			return c.data(ctx, env, r, next, authservID)
		})
	}
}

func (c *Checker) data(ctx context.Context, env *smtpd.Envelope, r io.Reader, next smtpd.DataHandler, authservID string) error {
	sp := &smtpd.Spool{Dir: c.SpoolDir}
	defer sp.Close() // once next has returned: it may read the spool again
	if _, err := sp.ReadFrom(r); err != nil {
		return err // the DATA reader's own reply, such as 552
	}

	trusted := c.trustsClient(env)
	var (
		res  *Results
		h    textproto.Header
		hlen int64
		err  error
	)
	if trusted {
		res = trustedResults(env)
		h, _, hlen, err = c.readHeader(sp.Reader())
	} else {
		spf, ok := SPFFrom(env)
		if !ok {
			spf = c.spfOf(ctx, env)
		}
		res, h, hlen, err = c.check(ctx, spf, sp.Reader(), false)
	}
	switch {
	case errors.Is(err, ErrHeaderTooLarge), errors.Is(err, ErrMalformedHeader):
		if c.AnnotateOnly {
			// AnnotateOnly never refuses: the message goes on as it came,
			// without our header, and forged ones cannot be removed.
			c.logger().WarnContext(ctx, "message passed on unchecked", "env", env.ID, "from", env.From, "err", err)
			return next.Data(ctx, env, sp.Reader())
		}
		refusal := *ErrHeaderRefused
		refusal.Err = err
		return &refusal
	case err != nil:
		return err
	}

	env.SetValue(resultsKey{}, res)
	if c.Checked != nil {
		c.Checked(res)
	}
	if trusted {
		c.logTrusted(ctx, env)
	} else if err := c.judge(ctx, env, res); err != nil {
		return err
	}

	var head bytes.Buffer
	removeForged(&h, authservID)
	h.AddRaw([]byte(res.AuthenticationResults(authservID)))
	if err := textproto.WriteHeader(&head, h); err != nil {
		return err
	}
	if !endsInBlankLine(sp, hlen) {
		// A message that is all header has no empty line after it, and
		// gets none: WriteHeader's would change the message.
		head.Truncate(head.Len() - len("\r\n"))
	}
	body := io.NewSectionReader(sp, hlen, sp.Size()-hlen)
	return next.Data(ctx, env, smtpd.MultiReaderAt(bytes.NewReader(head.Bytes()), body))
}

// judge logs the results of a checked message and applies its verdict:
// a refusal to return, or env.Quarantine set. With AnnotateOnly it only
// logs.
func (c *Checker) judge(ctx context.Context, env *smtpd.Envelope, res *Results) error {
	c.log(ctx, env, res)
	if c.AnnotateOnly {
		return nil
	}
	if ctx.Err() != nil || dkimStopped(res.DKIM) {
		refusal := *ErrUnfinished
		refusal.Err = ctx.Err()
		if refusal.Err == nil {
			refusal.Err = ErrDKIMStopped
		}
		return &refusal
	}
	switch res.Verdict() {
	case Reject:
		refusal := *ErrRejected
		if errors.Is(res.DMARC.Err, ErrUnusableFrom) && res.DMARC.Policy != dmarc.PolicyReject {
			refusal = *ErrFromRefused
		}
		refusal.Err = res.DMARC.Err
		return &refusal
	case Defer:
		refusal := *ErrDeferred
		refusal.Err = res.DMARC.Err
		return &refusal
	case Quarantine:
		env.Quarantine = true
	}
	return nil
}

// connID is the ID of the connection env came on, for the log.
func connID(env *smtpd.Envelope) string {
	if env.Conn == nil {
		return ""
	}
	return env.Conn.ID
}

// log writes one record with the results of a message.
func (c *Checker) log(ctx context.Context, env *smtpd.Envelope, res *Results) {
	dkim := make([]string, len(res.DKIM))
	for i, d := range res.DKIM {
		dkim[i] = string(d.Result) + " " + d.Domain
	}
	c.logger().LogAttrs(ctx, slog.LevelInfo, "message authenticated",
		slog.String("conn", connID(env)),
		slog.String("env", env.ID),
		slog.String("from", env.From),
		slog.String("spf", string(res.SPF.Result)),
		slog.Any("dkim", dkim),
		slog.String("dmarc", string(res.DMARC.Result)),
		slog.String("header_from", res.DMARC.Domain),
		slog.String("policy", res.DMARC.Policy),
		slog.String("verdict", string(res.Verdict())),
	)
}

// endsInBlankLine reports whether the header of the message in r, hlen
// bytes long, ends with the empty line that separates it from a body.
func endsInBlankLine(r io.ReaderAt, hlen int64) bool {
	if hlen < 2 {
		return false
	}
	var b [4]byte
	start := max(hlen-4, 0)
	n, _ := r.ReadAt(b[:hlen-start], start)
	end := string(b[:n])
	return end == "\r\n" && hlen == 2 || strings.HasSuffix(end, "\r\n\r\n")
}

// dkimStopped reports whether a DKIM signature was left unchecked because
// the check was stopped.
func dkimStopped(results []DKIMResult) bool {
	for _, d := range results {
		if errors.Is(d.Err, ErrDKIMStopped) {
			return true
		}
	}
	return false
}
