// Package send delivers mail to other domains over SMTP: the outbound
// side that forwarding and bounces need.
//
// A Sender finds the MX hosts of the recipient's domain (RFC 5321 §5.1,
// with the implicit MX and the null MX of RFC 7505), tries them in order
// of preference, starts TLS whenever a server offers it (opportunistic,
// RFC 7435), applies the domain's MTA-STS policy when given one (RFC 8461:
// in enforce mode, only the hosts it names, over TLS with a certificate
// valid for the host's name), and streams the message with go-smtp's
// client. Send returns nil when a server accepted the message, and
// otherwise an *Error that says which host failed at which step and
// whether the failure is permanent, so that a queue retries the others:
//
//	s := &send.Sender{Hostname: "mx.example.com", Resolver: resolver}
//	err := s.Send(ctx, "alice@example.com", "bob@example.net", msg)
//	if send.IsPermanent(err) {
//		// bounce: a DSN made with Bounce, sent with the same Sender
//	}
//
// Bounce builds the delivery status notification of a failure (RFC 3464,
// a multipart/report of RFC 6522) to send back to the message's sender
// from the null sender.
package send
