// Package mtasts reads the MTA-STS policy of a mail domain (RFC 8461): the
// "_mta-sts" TXT record that announces it, and the policy itself, fetched
// over HTTPS from https://mta-sts.<domain>/.well-known/mta-sts.txt. A
// sending MTA that finds a policy in enforce mode delivers only to MX hosts
// that the policy names, over TLS with a certificate that verifies for the
// host's name.
//
// [Parse] reads a policy file and [ParseRecord] a TXT record. A [Fetcher]
// finds, fetches and caches the policies of domains; [Policy.Match] tells
// whether an MX host is one a policy allows.
//
// # Use by a sender
//
// The send package keeps one Fetcher for the process, with the resolver it
// uses for MX lookups, and for each recipient domain calls
// Fetcher.Policy before it connects anywhere:
//
//   - An error means the DNS lookup of the record failed and no policy is
//     cached: defer the message and try later (a 4xx), as for a failed MX
//     lookup. RFC 8461 §5.1 forbids failing it for good before the policy
//     can be checked.
//   - nil, or a policy in mode none, means no policy: deliver as before.
//   - A policy in mode testing: deliver as before, and report the hosts
//     that would have failed (TLS-RPT, RFC 8460).
//   - A policy in mode enforce: try, in MX preference order, only the MX
//     hosts for which Policy.Match is true (for a domain without MX
//     records, the implicit MX, the domain itself: RFC 8461 §4.1), each
//     with STARTTLS required and its certificate verified for the MX
//     host's name (RFC 8461 §4.2); skip a host that fails and try the
//     next (§5.1). When no host can take the message, defer it, and call
//     Policy again before the next attempt: a new record id brings a new
//     policy, perhaps with new hosts, and RFC 8461 §5.1 forbids
//     bouncing a message without that check.
//
// Policy looks up the TXT record on every call, so put a dnsx.Cache in
// front of the resolver; the policy itself is fetched only when the
// record's id changes, once a day while it is unchanged (RFC 8461 §3.3
// asks for refreshes before policies expire), and when its max_age runs
// out. See Fetcher.Policy for the answer to each failure.
//
// # Use by a receiver
//
// A domain publishes its own policy with Records, which gives the
// "_mta-sts" TXT record (its id a hash of the policy text, so it changes
// exactly when the policy does), the address records of mta-sts.<domain>
// and the TLS-RPT record of RFC 8460; Handler serves the policy file,
// Policy.MarshalText, on an HTTPS server whose certificate is valid for
// mta-sts.<domain>. CheckDomain tells whether what is published works:
// the record, the policy fetched fresh, its mode, the MX hosts it covers,
// its max_age (CheckPolicy) and the TLS-RPT record (tlsrpt.CheckDomain);
// either joins dnsx.Check through dnsx.Expect.Extra. The package tlsrpt
// reads the reports that senders then mail to the TLS-RPT address.
package mtasts
