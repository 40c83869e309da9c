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
//     by pct=): deliver to Junk.
//   - Reject: p=reject, or a From header that DMARC cannot judge cleanly:
//     refuse with 550 5.7.1; nothing is stored.
//   - Defer: a DNS temporary failure left the verdict open: 451 4.7.0,
//     never a silent accept and never a permanent refusal.
//
// SPF fail alone never refuses: DMARC decides. SPF and DKIM DNS lookups
// that time out or get SERVFAIL are temperror, never permerror or none.
//
// Every domain that is looked up or aligned (the From domain, MAIL FROM,
// HELO, DKIM d=, organizational domains) is first brought to one form,
// ASCIIDomain: A-labels by IDNA's lookup rules, ASCII lower case, no final
// dot (RFC 8616). "ceo@bücher.example" is judged by the policy of
// xn--bcher-kva.example, and look-alikes that UTS #46 folds to ASCII
// (full-width letters, U+2174 SMALL ROMAN NUMERAL FIVE) by the policy of
// the name they fold to.
//
// The From header must name exactly one author at a usable domain (RFC
// 5322 §3.6.2, RFC 7489 §6.6.1). A message without one, with several From
// fields or addresses, or with a From that does not parse strictly
// (comments or spaces inside the address, a route, a group, a final dot, a
// domain that does not convert) is never a pass and is refused, as the
// largest mailbox providers do, whatever DKIM and SPF say:
// Checker.QuarantineUnusableFrom puts it in Junk instead.
//
// A DMARC record written carelessly keeps its policy: with v=DMARC1 first
// and a valid p=, tags that are unknown or malformed are ignored and take
// their defaults (RFC 7489 §6.3); see ParseRecord.
//
// The smtpd glue (MailHandler and Middleware) wires all of it into an
// smtpd.Server in two lines; see the package example. The middleware spools
// each message once with smtpd.Spool, so memory stays bounded whatever the
// message size, removes Authentication-Results fields that claim the
// server's authserv-id in any spelling (case, a final dot, quoted, after
// comments), and prepends its own. Checker.AnnotateOnly makes it
// add the header and nothing else.
//
// The handlers after the middleware get what it found and what it read:
// ResultsFrom returns the Results and verdict that its header shows, and
// the reader they receive can be read again from its first byte with
// smtpd.Reread (to parse a message, then store it), our header included,
// without a second copy: it reads the middleware's spool, which stays
// open until the handler returns.
//
// Clients in Checker.Trusted (this machine, the hosts that hand it their
// outgoing mail) are annotated but not judged: no SPF, DKIM or DMARC and
// no DNS query, never a refusal or Junk, and an Authentication-Results
// field that says none, after the forged ones are removed.
//
// ARC (RFC 8617) is for mail that this server passes on: Checker.ARC
// validates the chain a message arrived with, and a Sealer adds a new set
// (ARC-Seal, ARC-Message-Signature, ARC-Authentication-Results with this
// server's results) signed with the forwarding domain's key, so that the
// next receiver sees what was checked here. Receivers verify ARC with
// rsa-sha256; an Ed25519 key signs with ed25519-sha256 (RFC 8463), which
// few of them check. ParseSigningKey reads such a key from a PEM file and
// DKIMKeyRecord gives the record that publishes it.
//
// DMARC's record fills a github.com/emersion/go-msgauth/dmarc Record;
// domains are converted with golang.org/x/net/idna; organizational domains
// come from the Public Suffix List (golang.org/x/net/publicsuffix); the
// record's lenient reading, the strict From reading, alignment, sp=, pct=
// and the verdict are this package's.
package auth
