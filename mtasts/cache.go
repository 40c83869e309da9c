package mtasts

import (
	"container/list"
	"time"
)

// DefaultMaxCached is how many domains a Fetcher remembers when its
// MaxCached is zero. A policy file holds at most MaxPolicySize bytes, so
// the cache holds at most about 80 MiB even if every domain sent the
// largest policy it may; real policies, of a few mx lines, take a few
// hundred bytes each.
const DefaultMaxCached = 1000

// entry is what a Fetcher remembers of one domain.
type entry struct {
	// policy is the policy last fetched, and fetched when; policy is nil
	// when no fetch has succeeded or the policy expired.
	policy  *Policy
	fetched time.Time
	// failedID is the record id of the last fetch that failed, and
	// failedAt when; failedID is "" when the last fetch succeeded.
	failedID string
	failedAt time.Time
}

// valid returns e's policy if it has not outlived its max_age at now: the
// policy in force for the domain (RFC 8461 §3.3), or nil.
func (e entry) valid(now time.Time) *Policy {
	if e.policy == nil || now.Sub(e.fetched) >= e.policy.MaxAge {
		return nil
	}
	return e.policy
}

// fresh reports whether e's policy, valid at now, need not be fetched
// again while its record's id stays the same: it is younger than its
// max_age and than RefreshInterval.
func (e entry) fresh(now time.Time) bool {
	return e.valid(now) != nil && now.Sub(e.fetched) < RefreshInterval
}

// cacheItem is an entry in the Fetcher's LRU list.
type cacheItem struct {
	domain string
	entry  entry
}

// cache holds the entries of the most recently used domains, at most
// max of them (none if max is negative), the least recently used leaving
// first. It is not safe for concurrent use: the Fetcher's mutex guards it.
type cache struct {
	items map[string]*list.Element
	lru   list.List // of *cacheItem, most recently used first
}

// get returns the entry of domain, if there is one, and marks it used.
func (c *cache) get(domain string) (entry, bool) {
	el, ok := c.items[domain]
	if !ok {
		return entry{}, false
	}
	c.lru.MoveToFront(el)
	return el.Value.(*cacheItem).entry, true
}

// put sets the entry of domain and evicts the least recently used entries
// beyond max; a negative max bounds nothing.
func (c *cache) put(domain string, e entry, max int) {
	if el, ok := c.items[domain]; ok {
		el.Value.(*cacheItem).entry = e
		c.lru.MoveToFront(el)
	} else {
		if c.items == nil {
			c.items = map[string]*list.Element{}
		}
		c.items[domain] = c.lru.PushFront(&cacheItem{domain: domain, entry: e})
	}
	for max >= 0 && c.lru.Len() > max {
		c.remove(c.lru.Back().Value.(*cacheItem).domain)
	}
}

// remove forgets domain.
func (c *cache) remove(domain string) {
	if el, ok := c.items[domain]; ok {
		c.lru.Remove(el)
		delete(c.items, domain)
	}
}
