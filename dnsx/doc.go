// Package dnsx is the DNS side of receiving mail: MX, A/AAAA and TXT lookups
// on a resolver you choose, with temporary failures told apart from missing
// records, and a cache that honours TTLs.
package dnsx
