package ratelimit

import (
	"container/list"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// table holds one token bucket per key, at most max of them: the least
// recently used is forgotten to make room. A nil table allows everything.
type table[K comparable] struct {
	limit rate.Limit
	burst int
	max   int

	mu      sync.Mutex
	byKey   map[K]*list.Element // of *bucket[K]
	lru     list.List           // most recently used first
	evicted int                 // keys forgotten since byKey was made
}

type bucket[K comparable] struct {
	key K
	lim *rate.Limiter
}

// newTable returns a table of buckets of perMinute tokens (def when zero)
// refilled over a minute, or nil when perMinute is negative.
func newTable[K comparable](perMinute, def, max int) *table[K] {
	perMinute = limit(perMinute, def)
	if perMinute < 0 {
		return nil
	}
	if max < 1 {
		max = 1
	}
	return &table[K]{
		limit: rate.Every(time.Minute / time.Duration(perMinute)),
		burst: perMinute,
		max:   max,
		byKey: make(map[K]*list.Element),
	}
}

// allow takes a token from key's bucket at now and reports whether there
// was one.
func (t *table[K]) allow(key K, now time.Time) bool {
	if t == nil {
		return true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.byKey[key]
	if ok {
		t.lru.MoveToFront(e)
	} else {
		var b *bucket[K]
		if len(t.byKey) >= t.max {
			// Reuse the least recently used entry for the new key.
			e = t.lru.Back()
			b = e.Value.(*bucket[K])
			delete(t.byKey, b.key)
			t.evicted++
			if t.evicted >= t.max {
				t.rebuild()
			}
			t.lru.MoveToFront(e)
			b.key, b.lim = key, rate.NewLimiter(t.limit, t.burst)
		} else {
			b = &bucket[K]{key: key, lim: rate.NewLimiter(t.limit, t.burst)}
			e = t.lru.PushFront(b)
		}
		t.byKey[key] = e
	}
	return e.Value.(*bucket[K]).lim.AllowN(now, 1)
}

// rebuild copies byKey into a new map. A Go map keeps the room of deleted
// keys, so under a stream of new keys (an address-spraying client) the map
// of a full table would keep growing by steps; made again after every max
// evictions, it stays the size of max keys, for an amortised cost of one
// copied entry per eviction.
func (t *table[K]) rebuild() {
	byKey := make(map[K]*list.Element, len(t.byKey)+1)
	for k, e := range t.byKey {
		byKey[k] = e
	}
	t.byKey = byKey
	t.evicted = 0
}

func (t *table[K]) len() int {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byKey)
}
