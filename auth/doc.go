// Package auth checks where a message comes from: SPF (RFC 7208) at MAIL
// FROM, DKIM (RFC 6376) signatures after DATA, and DMARC (RFC 7489) with the
// sender domain's published policy applied, writing the results as an
// Authentication-Results header (RFC 8601).
//
// A Checker does the work: SPF, DKIM and DMARC each on their own, or Check
// for DKIM and DMARC over a whole message given the SPF result of its
// transaction. Results are the RFC 8601 words (pass, fail, softfail,
// neutral, none, temperror, permerror, policy), so they print straight into
// the header, and DMARC ends in a Verdict:
//
//   - Deliver: DMARC passes, no policy is published, or p=none.
//   - Quarantine: p=quarantine (or sp= for a subdomain, or p=reject left out
//     by pct=), or a From header DMARC cannot evaluate: deliver to Junk.
//   - Reject: p=reject: refuse with 550 5.7.1; nothing is stored.
//   - Defer: a DNS temporary failure left the verdict open: 451 4.7.0,
//     never a silent accept and never a permanent refusal.
//
// SPF fail alone never refuses: DMARC decides. SPF and DKIM DNS lookups
// that time out or get SERVFAIL are temperror, never permerror or none.
//
// The smtpd glue (MailHandler and Middleware) wires all of it into an
// smtpd.Server in two lines; see the package example. The middleware spools
// each message once with smtpd.Spool, so memory stays bounded whatever the
// message size, removes Authentication-Results fields that claim the
// server's authserv-id, and prepends its own. Checker.AnnotateOnly makes it
// add the header and nothing else.
//
// DMARC's record is parsed with github.com/emersion/go-msgauth/dmarc;
// organizational domains come from the Public Suffix List
// (golang.org/x/net/publicsuffix); alignment, sp=, pct= and the verdict are
// this package's.
package auth
