package dnsx

import (
	"container/list"
	"context"
	"net"
	"sync"
	"time"
)

// Default settings of a [Cache].
const (
	// DefaultCacheSize is how many answers a Cache keeps when NewCache is
	// given no size.
	DefaultCacheSize = 4096
	// DefaultMaxBytes is how much memory a Cache's answers may take when
	// its MaxBytes is zero: 8 MiB.
	DefaultMaxBytes = 8 << 20
	// DefaultMaxAnswerBytes is the largest answer a Cache keeps when its
	// MaxAnswerBytes is zero: 16 KiB, several times a large SPF or DKIM
	// TXT set, and a quarter of the largest a TCP reply can carry.
	DefaultMaxAnswerBytes = 16 << 10
	// DefaultMaxTTL is the longest a Cache keeps an answer when its MaxTTL
	// is zero, whatever TTL the answer carries.
	DefaultMaxTTL = 24 * time.Hour
)

// Cache is a [Resolver] and a [Querier] that keeps the answers of another
// Querier for as long as their TTLs allow, negative answers (NXDOMAIN and
// NODATA) included, for the time RFC 2308 §5 gives them. Temporary failures
// are never kept: the next query asks again.
//
// Concurrent queries for the same name and type wait for one question to
// the Querier behind and share its answer.
//
// The cache is bounded twice: by its size in answers, and by MaxBytes in
// memory, since the answers of a name the sender chooses can be large (a
// TXT set can take 64 KiB on the wire and four times that once its
// unprintable bytes are escaped). When either bound is reached it drops the
// answers used least recently. An answer larger than MaxAnswerBytes is
// handed to the callers that asked for it and not kept.
//
// A Cache is safe for concurrent use. Set its fields before the first query.
type Cache struct {
	// Now returns the current time; nil means time.Now. Tests set it to
	// move time without waiting.
	Now func() time.Time

	// MaxTTL caps how long an answer is kept; zero means DefaultMaxTTL.
	MaxTTL time.Duration

	// MaxBytes bounds the memory the kept answers take, as the cache
	// counts it (see Bytes); zero means DefaultMaxBytes, and negative
	// means no bound but the cache's size in answers.
	MaxBytes int

	// MaxAnswerBytes is the largest answer kept, counted as for MaxBytes
	// without the per-answer overhead; a larger one is returned to its
	// callers and asked again next time. Zero means DefaultMaxAnswerBytes;
	// negative means no cap but MaxBytes.
	MaxAnswerBytes int

	q    Querier
	size int

	mu      sync.Mutex
	entries map[cacheKey]*list.Element // values are *cacheEntry
	lru     list.List                  // most recently used first
	flights map[cacheKey]*flight
	bytes   int // sum of the entries' sizes
}

type cacheKey struct {
	name  string
	qtype uint16
}

type cacheEntry struct {
	key     cacheKey
	ans     Answer
	expires time.Time
	size    int // entrySize of key and ans
}

// flight is one question in progress, which later identical questions wait
// for instead of asking again.
type flight struct {
	done    chan struct{}
	waiters int // callers waiting besides the one asking
	ans     Answer
	err     error
	// abandoned is set when the asker's own context ended the query; its
	// error is not an answer for waiters whose contexts are alive.
	abandoned bool
}

// NewCache returns a Cache in front of q that keeps at most size answers;
// a size of zero or less means DefaultCacheSize. Its memory is bounded by
// its MaxBytes field as well. To cache a *net.Resolver, which does not
// report TTLs, wrap it with [FixedTTL].
func NewCache(q Querier, size int) *Cache {
	if size <= 0 {
		size = DefaultCacheSize
	}
	return &Cache{
		q:       q,
		size:    size,
		entries: make(map[cacheKey]*list.Element),
		flights: make(map[cacheKey]*flight),
	}
}

// LookupTXT returns the TXT records of name, each record's
// character-strings joined into one string as *net.Resolver does.
func (c *Cache) LookupTXT(ctx context.Context, name string) ([]string, error) {
	return lookupTXT(ctx, c, name)
}

// LookupMX returns the MX records of name sorted by preference. It does not
// apply the implicit MX rule; [LookupMX] does.
func (c *Cache) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	return lookupMX(ctx, c, name)
}

// LookupIPAddr returns the IPv4 and IPv6 addresses of host.
func (c *Cache) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	return lookupIPAddr(ctx, c, host)
}

// LookupAddr returns the names that the PTR records of addr point to.
func (c *Cache) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	return lookupAddr(ctx, c, addr)
}

// Len reports how many answers the cache holds, expired ones included until
// they are looked up or pushed out.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// Bytes reports how much memory the cache's answers take by its own count,
// the sum over the answers it holds of entrySize: the bytes of their names
// and records, and an estimate of what the cache spends to keep each one.
// It is never above MaxBytes, when that is positive.
func (c *Cache) Bytes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

// Query returns the kept answer for name and qtype while its TTL lasts, with
// TTL set to the time left; otherwise it asks the Querier behind, or waits
// for a query for the same already in progress.
func (c *Cache) Query(ctx context.Context, name string, qtype uint16) (Answer, error) {
	fq, ok := canonical(name)
	if !ok {
		// Whatever the Querier behind would say, no server can answer.
		return Answer{}, invalidName(name, "")
	}
	k := cacheKey{fq, qtype}
	now := c.now()

	c.mu.Lock()
	if el, ok := c.entries[k]; ok {
		e := el.Value.(*cacheEntry)
		if now.Before(e.expires) {
			c.lru.MoveToFront(el)
			c.mu.Unlock()
			a := e.ans
			a.TTL = e.expires.Sub(now)
			return a, nil
		}
		c.remove(el)
	}
	if f, ok := c.flights[k]; ok {
		f.waiters++
		c.mu.Unlock()
		select {
		case <-f.done:
			if f.abandoned && ctx.Err() == nil {
				return c.q.Query(ctx, name, qtype)
			}
			return f.ans, f.err
		case <-ctx.Done():
			return Answer{}, failure(name, "", ctx.Err())
		}
	}
	f := &flight{done: make(chan struct{})}
	c.flights[k] = f
	c.mu.Unlock()

	defer close(f.done)
	f.ans, f.err = c.q.Query(ctx, name, qtype)
	f.abandoned = f.err != nil && ctx.Err() != nil
	var e *cacheEntry
	if f.err == nil && f.ans.TTL > 0 {
		e = c.entry(k, f.ans, now)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.flights, k)
	if e != nil {
		c.store(e)
	}
	return f.ans, f.err
}

// entry returns the cache entry that keeps ans, asked at now, under k, or
// nil when ans is larger than MaxAnswerBytes or MaxBytes allow.
func (c *Cache) entry(k cacheKey, ans Answer, now time.Time) *cacheEntry {
	maxAnswer := c.MaxAnswerBytes
	if maxAnswer == 0 {
		maxAnswer = DefaultMaxAnswerBytes
	}
	if maxAnswer > 0 && answerBytes(ans) > maxAnswer {
		return nil
	}
	ans = compact(ans)
	size := entrySize(k.name, answerBytes(ans))
	if maxBytes := c.maxBytes(); maxBytes > 0 && size > maxBytes {
		return nil
	}
	maxTTL := c.MaxTTL
	if maxTTL <= 0 {
		maxTTL = DefaultMaxTTL
	}
	return &cacheEntry{key: k, ans: ans, expires: now.Add(min(ans.TTL, maxTTL)), size: size}
}

// store keeps e, then drops the answers used least recently until the
// cache is within its bounds again. c.mu is held.
func (c *Cache) store(e *cacheEntry) {
	if el, ok := c.entries[e.key]; ok {
		c.bytes -= el.Value.(*cacheEntry).size
		el.Value = e
		c.lru.MoveToFront(el)
	} else {
		c.entries[e.key] = c.lru.PushFront(e)
	}
	c.bytes += e.size
	maxBytes := c.maxBytes()
	for c.lru.Len() > c.size || (maxBytes > 0 && c.bytes > maxBytes) {
		c.remove(c.lru.Back())
	}
}

// maxBytes is MaxBytes with its default; negative means no bound.
func (c *Cache) maxBytes() int {
	if c.MaxBytes == 0 {
		return DefaultMaxBytes
	}
	return c.MaxBytes
}

// remove drops the entry of el. c.mu is held.
func (c *Cache) remove(el *list.Element) {
	e := el.Value.(*cacheEntry)
	c.lru.Remove(el)
	delete(c.entries, e.key)
	c.bytes -= e.size
}

func (c *Cache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}
