package mtasts

// SetWaitHook makes f call hook whenever a Policy call starts waiting for
// another call's resolution of the same domain.
func SetWaitHook(f *Fetcher, hook func()) { f.waitHook = hook }

// CachedDomains returns how many domains f remembers.
func CachedDomains(f *Fetcher) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cache.lru.Len()
}
