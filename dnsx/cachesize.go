package dnsx

import (
	"container/list"
	"strings"
	"unsafe"

	"github.com/miekg/dns"
)

// What a Cache counts of the memory an answer takes: the bytes its strings
// hold (the name asked, the records' names, TXT strings as miekg/dns keeps
// them, escapes included), the structures that hold them, from their sizes
// in this build, and entryOverhead for each answer. The allocator rounds
// each object up to its size class, a few percent more that is not
// counted; the tests check that the heap grows by no more than an eighth
// over the count.

// entryOverhead is what the cache spends to keep one answer besides the
// answer itself: its cacheEntry, its list element, its map slot counted
// twice, since a Go map keeps spare slots (a load factor of at most 7/8,
// then doubling), and allocRounding.
const entryOverhead = int(unsafe.Sizeof(cacheEntry{})+unsafe.Sizeof(list.Element{})+
	2*(unsafe.Sizeof(cacheKey{})+unsafe.Sizeof(&list.Element{})+1)) + allocRounding

// allocRounding is what the allocator adds, rounding up to size classes,
// to the half dozen small objects an answer of one short record takes:
// measured at about 40 bytes (393 bytes of heap against 352 counted without
// it, over 4,000 answers of one TXT record).
const allocRounding = 48

// Sizes of the parts of a record, in this build.
const (
	stringHeader = int(unsafe.Sizeof(""))
	ifaceHeader  = int(unsafe.Sizeof(dns.RR(nil)))
)

// compact returns a copy of a whose TXT strings take no more memory than
// their length, for the cache to keep: miekg/dns builds an escaped string
// in a buffer that can be twice its length or more, and a Resolver's
// strings may share or pad memory in ways the count cannot see. The slice
// of records is new and exactly as long as needed; other records are
// shared with a.
func compact(a Answer) Answer {
	recs := make([]dns.RR, len(a.Records))
	for i, rr := range a.Records {
		switch rr := rr.(type) {
		case *dns.TXT:
			recs[i] = &dns.TXT{Hdr: rr.Hdr, Txt: cloneStrings(rr.Txt)}
		case *dns.SPF:
			recs[i] = &dns.SPF{Hdr: rr.Hdr, Txt: cloneStrings(rr.Txt)}
		default:
			recs[i] = rr
		}
	}
	a.Records = recs
	return a
}

// cloneStrings returns a copy of ss whose strings are copies too.
func cloneStrings(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.Clone(s)
	}
	return out
}

// entrySize is what the cache counts for keeping ans, of answerBytes
// ansBytes, under name.
func entrySize(name string, ansBytes int) int {
	return entryOverhead + len(name) + ansBytes
}

// answerBytes is the memory the records of a take: the slice that holds
// them and each record. The Server string is not counted: answers of one
// Querier share it.
func answerBytes(a Answer) int {
	n := cap(a.Records) * ifaceHeader
	for _, rr := range a.Records {
		n += recordBytes(rr)
	}
	return n
}

// recordBytes is the memory one record takes: its struct, its owner name,
// and the strings and slices its fields point to. For a type not listed, the
// data is counted as its wire length.
func recordBytes(rr dns.RR) int {
	n := len(rr.Header().Name)
	switch rr := rr.(type) {
	case *dns.TXT:
		n += int(unsafe.Sizeof(*rr)) + txtBytes(rr.Txt)
	case *dns.SPF:
		n += int(unsafe.Sizeof(*rr)) + txtBytes(rr.Txt)
	case *dns.A:
		n += int(unsafe.Sizeof(*rr)) + cap(rr.A)
	case *dns.AAAA:
		n += int(unsafe.Sizeof(*rr)) + cap(rr.AAAA)
	case *dns.MX:
		n += int(unsafe.Sizeof(*rr)) + len(rr.Mx)
	case *dns.CNAME:
		n += int(unsafe.Sizeof(*rr)) + len(rr.Target)
	case *dns.PTR:
		n += int(unsafe.Sizeof(*rr)) + len(rr.Ptr)
	case *dns.NS:
		n += int(unsafe.Sizeof(*rr)) + len(rr.Ns)
	default:
		n += int(unsafe.Sizeof(dns.RR_Header{})) + dns.Len(rr)
	}
	return n
}

// txtBytes is the memory the character-strings of a TXT record take.
func txtBytes(txt []string) int {
	n := cap(txt) * stringHeader
	for _, s := range txt {
		n += len(s)
	}
	return n
}
