// Package srs rewrites envelope senders for forwarded mail with the Sender
// Rewriting Scheme, so that SPF passes for the forwarder and bounces still
// reach the original sender.
//
// When mail for me@mydomain.dev is forwarded to me@gmail.com, the forwarded
// message cannot keep MAIL FROM:<alice@example.com>: the forwarding host is
// not among example.com's SPF senders (RFC 7208 §2.4). A [Rewriter] for
// mydomain.dev turns the sender into an address at mydomain.dev that carries
// the original one, and turns a bounce sent back to that address into the
// original sender again:
//
//	Forward("alice@example.com") = "SRS0=HHHH=TT=example.com=alice@mydomain.dev"
//	Reverse("SRS0=HHHH=TT=example.com=alice@mydomain.dev") = "alice@example.com"
//
// # The format
//
// Addresses are those of Shevek's SRS paper and his libsrs2 (srs2.c), whose
// code postsrsd (Postfix's SRS daemon, 1.x) carries, so that a forwarder
// can move between them with the same secret; the tests check this against
// postsrsd. Exim's built-in SRS (4.95 and later) writes addresses of the
// same layout with a hash of its own: they are not claimed compatible.
//
//   - SRS0=HHHH=TT=domain=local@fwd for an ordinary sender local@domain.
//     TT is the day the address was made, days since 1970 modulo 1024 in two
//     characters of the base32 alphabet A-Z2-7 (RFC 4648 §6); HHHH is the
//     first four characters of the base64 (RFC 4648 §4) of
//     HMAC-SHA1(secret, TT+domain+local), each part lower-cased in ASCII
//     before it is hashed and nothing between them.
//   - SRS1=HHHH=first==HHHH=TT=domain=local@fwd for a sender that another
//     forwarder, first, had already rewritten to SRS0=HHHH=TT=domain=local.
//     The new hash covers first and the rest after "SRS0" (its separator
//     included), there is no timestamp, and Reverse gives back the SRS0
//     address at first, which checks its own hash and age. An SRS1 sender
//     forwarded again keeps first and the rest and gets this forwarder's
//     hash: a chain never grows.
//
// Reverse compares hashes without regard to case, as libsrs2 does, and
// reads timestamps in either case, as postsrsd's copy of it does: mail
// systems change the case of local parts. The separator after SRS0 or SRS1
// may be "=", "+" or "-"; Forward always writes "=". Unlike libsrs2,
// Reverse accepts an SRS0 address dated one day ahead, as another host of
// the same forwarder whose clock is ahead makes them.
//
// # Addresses
//
// The null sender "" of bounces stays "" (bounces are not forwarded with a
// sender to bounce to), and an address at the Rewriter's own Domain is left
// as it is. A local part may be a quoted string (RFC 5321 §4.1.2) and may
// hold UTF-8 (RFC 6531): when the rewritten local part is not a dot-string
// the whole of it is quoted, and Reverse quotes the original again, so
// Reverse(Forward(x)) is x with its local part in its plainest form ("x"@d
// and x@d are one mailbox). A sender domain in U-labels is written in
// A-labels (smtpd.ToASCII), so that the rewritten address needs SMTPUTF8
// only when the local part does. A rewritten local part longer than the 64
// octets of RFC 5321 §4.5.3.1.1 is refused with ErrTooLong rather than sent
// to receivers that may refuse it.
//
// # Strength
//
// The hash keeps strangers from making SRS addresses that Reverse accepts,
// which would let them relay mail through the forwarder to addresses of
// their choosing. It is 24 bits, compared without regard to case: about
// one guess in two million is right (38 classes of character per
// position), so a forwarder should still limit how many bounces it
// relays. Timestamps wrap after 1024 days, so an address of nearly three
// years ago looks new again, as in every implementation of the format.
package srs
