// Package dnsx is the DNS side of receiving mail: MX, A/AAAA, TXT and PTR
// lookups on a resolver you choose, with temporary failures told apart from
// missing records, and a cache that honours TTLs.
//
// [Resolver] is the part of *net.Resolver that ownmx uses; it also fits the
// resolver option of blitiri.com.ar/go/spf. Three implementations are here:
//
//   - [Client], made by [NewResolver], sends every query to one nameserver
//     (a dnstest.Server in tests, your own resolver in production).
//   - [Cache] keeps the answers of a [Querier], such as a Client, for their
//     TTLs, negative answers included (RFC 2308), within a memory budget
//     (8 MiB by default, large answers not kept), and asks once for many
//     concurrent identical questions.
//   - [FixedTTL] turns any Resolver, *net.Resolver included, into a Querier
//     for a Cache, with one TTL for every answer.
//
// Every error they return is a *net.DNSError, so that [IsTemporary] and
// [IsNotFound] (and blitiri.com.ar/go/spf) can tell "try again later" from
// "no such name or record". A mail receiver answers the first with a 4xx
// reply and may treat the second as final. A name that is not a domain name
// (an empty label, a label over 63 octets, a name over 253) is never sent
// and is not found, as no server could have it.
//
// [LookupMX] applies RFC 5321 §5.1 (the implicit MX) and RFC 7505 (null MX)
// on top of any Resolver.
package dnsx
