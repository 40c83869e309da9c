// Package forward forwards mail to a mailbox elsewhere (me@mydomain.dev to
// me@gmail.com) as the hosted forwarders do, so that it keeps passing SPF,
// DKIM and DMARC at the destination:
//
//   - The message goes out from the queue through a send.Sender (MX,
//     STARTTLS, MTA-STS), unchanged but for the header fields added on
//     top, so the author's DKIM signature still verifies.
//   - Its MAIL FROM becomes an SRS address at the forwarding domain
//     (package srs), so SPF at the destination judges this server's
//     address against the forwarding domain's record, and passes.
//   - It carries a Delivered-To field for the address it was sent to, and
//     an ARC set (RFC 8617) signed with the forwarding domain's key that
//     records this server's SPF, DKIM and DMARC results, added last.
//
// A Forwarder holds what its forwards share; Forwarder.To makes the route
// action for one target:
//
//	fwd := &forward.Forwarder{Sender: sender, SRS: rewriter, Sealer: sealer, Hostname: "mx.example.com", Domains: []string{"example.com"}}
//	mux.Handle("me@example.com", route.Store(boxes), fwd.To("me@gmail.example"))
//	fwd.HandleBounces(mux) // bounces to SRS addresses go back to the sender
//
// # Policy
//
// Mail that the sender domain's DMARC policy rejects was never accepted.
// Quarantined mail is not forwarded: when its route also stores it, it is
// in Junk and the forward is left out; otherwise the forward declines it,
// and the queue keeps it as a dead letter that says why (an operator may
// replay it). Target.Quarantined forwards it anyway.
//
// Loops are cut: a message that already carries a Delivered-To field for
// one of the delivery's recipients has been here before, and one with
// more than MaxReceived Received fields has gone round too often; neither
// is sent again (5.4.6, as Postfix says). A target at one of the server's
// own Domains is delivered locally: the route of the target gets the
// message when it is committed (route.Redirector), and no SMTP is spoken.
//
// # Failures
//
// A temporary failure (4xx, no host reachable, an MTA-STS policy that no
// host satisfies, a DNS failure while the message's ARC chain is checked)
// is tried again by the queue. A permanent one (5xx), a
// loop, or a temporary failure on the queue's last try (queue.Attempt.Final)
// ends the delivery, and a delivery status notification (RFC 3464) goes to
// the original MAIL FROM through the same Sender: never for the null
// sender, and never for a message that is itself a delivery status
// notification.
//
// # Bounces
//
// Bounces of forwarded mail come back to the SRS address. HandleBounces
// routes the SRS addresses of the forwarding domain to an action that
// refuses, at RCPT, an address that is forged or too old (550 5.1.1), and
// sends what arrives for a good one on to the original sender.
package forward
