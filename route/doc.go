// Package route sends each recipient's mail to actions chosen by pattern,
// as net/http's ServeMux sends each request to a handler: a Mux holds
// patterns, each with its actions (store it, post it to a webhook, drop
// it), and the most specific pattern that matches a recipient wins.
//
// # Patterns
//
//	me@example.com        one address
//	me@                   the local part me at any domain the server accepts
//	orders+*@example.com  orders with any tag: orders+42@example.com
//	orders+*@             orders with any tag, at any domain accepted
//	srs0=*@example.com    every local part that begins with srs0= (a prefix)
//	srs0=*@               the same, at any domain accepted
//	*@example.com         every recipient at example.com (a catch-all)
//	*                     every recipient that passed the domain check
//
// An exact pattern may carry a tag too: me+shop@example.com, me+shop@.
// Domains compare in their A-label form in ASCII lower case without a final
// dot (smtpd.ToASCII, RFC 5890): a pattern for bücher.example matches a
// recipient at xn--bcher-kva.example and the other way round. Local parts
// compare without regard to ASCII case; other characters compare as they
// are. Patterns are kept, matched and named in this canonical form, so "Me@"
// and "me@" are one pattern and a Mux refuses the second.
//
// A tag is what follows the first Delimiter, '+', of a local part, when
// something comes before it: me+a+b has the base me and the tag a+b; +me has
// no tag. A recipient with a tag falls back to its base address after the
// patterns for its tag, as Postfix's recipient_delimiter does: without a
// route for me+shop@example.com or me+*@example.com, mail to it goes where
// mail to me@example.com goes.
//
// # Precedence
//
// For a recipient local+tag@domain (base local, tag tag), the first of these
// patterns that the Mux holds wins: a pattern that names the domain beats
// one that does not, and within each, the exact address beats the tag
// wildcard, which beats the base address.
//
//	1  local+tag@domain   the address with its tag
//	2  local+*@domain     the base with any tag, at the domain
//	3  local@domain       the base address
//	4  prefix*@domain     a prefix of the whole local part, at the domain
//	5  local+tag@         the local part with its tag, at any domain
//	6  local+*@           the base with any tag, at any domain
//	7  local@             the base, at any domain
//	8  prefix*@           a prefix of the whole local part, at any domain
//	9  *@domain           the domain's catch-all
//	10 *                  everything
//
// A recipient without a tag skips 1, 2, 5 and 6: orders+*@ does not match
// orders@. Among prefix patterns the longest prefix wins, and a prefix
// matches only a longer local part: srs0=* matches SRS0=x but not srs0=.
// A prefix holds no '+' and no '*' (it is compared with the whole local
// part, tag included); it serves addresses that a program makes, such as
// the SRS addresses of the forward package. A recipient without a domain
// (the "<Postmaster>" of RFC 5321 §4.5.1) is matched only by the patterns
// that name no domain (5 to 8, and 10). A recipient whose local part is
// quoted, or whose base holds a '*', is matched only by 9 and 10, since no
// other pattern can spell it. A
// recipient whose domain has no A-label form (which smtpd.AcceptDomains
// refuses) matches nothing.
//
// Register (and Handle, which panics instead) refuses a pattern that is
// empty, has no '@' or two, an empty local part, "*@" without a domain, a '*'
// anywhere but as the whole local part, after the first '+' at its end
// ("a+b+*" and "+*" are refused) or at the end of a prefix that holds no
// '+', a local part that is not a dot-atom
// (RFC 5321 §4.1.2; UTF-8 allowed, RFC 6531) or longer than 64 octets, and a
// domain that is not a host name after IDNA (address literals included).
//
// # Serving
//
// A Mux is the server's Rcpt handler: a recipient that no pattern matches is
// refused with 550 5.1.1, and an action that is an smtpd.RcptHandler (a
// Store over store.Mailboxes) is asked too. A Mux accepts any domain its
// patterns allow ("me@" and "*" allow all of them), so put the relay
// protection before it:
//
//	mux := route.NewMux()
//	boxes := &store.Mailboxes{Root: "/var/mail/ownmx", Domains: []string{"example.com"}}
//	mux.Handle("*@example.com", route.Store(boxes))
//	mux.Handle("orders+*@example.com", route.Store(boxes), hook) // hook: a webhook.Endpoint
//	mux.Handle("noreply@", route.Drop)
//	mux.Handle("postmaster@", route.Store(boxes)) // AcceptDomains passes postmaster without asking
//	q, err := queue.Open("/var/spool/ownmx", nil)
//	...
//	srv := &smtpd.Server{
//		Rcpt: smtpd.AcceptDomains("example.com").Then(mux),
//		Data: smtpd.Chain(mux.Handler(q), checker.Middleware("mx.example.com")),
//	}
//	go q.Run(ctx, mux) // the queue runs each delivery with mux.Run
//
// At DATA, mux.Handler(q) commits each message once, with one queue.Delivery
// per matched pattern and action, named "pattern#n" (the n-th action of
// the pattern, from 1) and holding that pattern's recipients: a message to
// three recipients of two patterns, one with two actions, is written once
// and has three deliveries. Actions that are Deciders (a webhook waiting for
// its receiver's answer) decide the reply before the commit, and Drop
// actions are not committed at all. The queue then runs each delivery with
// mux.Run, which finds its action by name.
//
// smtpd.AcceptDomains accepts postmaster at its domains, and "<Postmaster>"
// alone, without asking the Mux (RFC 5321 §4.5.1): give it a route
// ("postmaster@" or "*"), or its messages are deferred with 451 at DATA.
package route
