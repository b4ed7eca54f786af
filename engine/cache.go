package engine

import "sync"

// recordCache keeps recently used records in memory, in their encoded form,
// so that Get and the read half of Merge usually cost a hash lookup instead
// of a walk of pebble's memtable skiplist (tens of cache misses).
//
// Coherence: an entry is added, replaced or removed only by a goroutine that
// holds the key's stripe lock, after pebble holds the same state (Merge after
// its write, Get after reading pebble, expiry after its write) or, for
// FlushDB and FlushAll, while holding every stripe lock. Readers that do not
// hold the lock (Get's fast path) therefore see either the state before an
// in-progress Merge or the state after it. Cached bytes are never modified,
// so records are decoded in place: the Value slices that Get, Merge and
// Update return alias them, and callers must treat those as read-only.
//
// A nil *recordCache is a disabled cache.
type recordCache struct {
	shards   [cacheShards]cacheShard
	maxShard int64 // byte budget of one shard
}

const cacheShards = 64

type cacheShard struct {
	mu    sync.Mutex
	m     map[string]*cacheEntry // pebble data key -> entry
	bytes int64                  // estimated size of m's keys, values and entries
	_     [40]byte               // keep shards on separate cache lines
}

// cacheEntry is a record's encoding, or empty for a key known to be absent.
type cacheEntry struct{ rec []byte }

// entryOverhead estimates the map slot, the entry and the slice headers.
const entryOverhead = 64

func newRecordCache(size int64) *recordCache {
	if size <= 0 {
		return nil
	}
	c := &recordCache{maxShard: max(size/cacheShards, 1)}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*cacheEntry)
	}
	return c
}

func (c *recordCache) shard(h uint64) *cacheShard {
	return &c.shards[(h>>32)%cacheShards]
}

// get returns the cached record of pebble key k (hash h): rec is empty when
// the key is known to be absent. rec must not be modified.
func (c *recordCache) get(h uint64, k []byte) (rec []byte, ok bool) {
	if c == nil {
		return nil, false
	}
	sh := c.shard(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e := sh.m[string(k)]; e != nil {
		return e.rec, true // put replaces e.rec, never its bytes
	}
	return nil, false
}

// put caches rec (nil: absent) as the record of k, taking ownership of rec.
// The caller holds k's stripe lock.
func (c *recordCache) put(h uint64, k, rec []byte) {
	if c == nil {
		return
	}
	size := int64(len(k) + len(rec) + entryOverhead)
	if size > c.maxShard/4 {
		// Too big to be worth the space: make sure no stale entry remains.
		c.remove(h, k)
		return
	}
	sh := c.shard(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e := sh.m[string(k)]; e != nil {
		sh.bytes += int64(len(rec) - len(e.rec))
		e.rec = rec
	} else {
		sh.m[string(k)] = &cacheEntry{rec: rec}
		sh.bytes += size
	}
	if sh.bytes > c.maxShard {
		sh.evict(c.maxShard - c.maxShard/8)
	}
}

// evict removes entries in map order (effectively random) until the shard's
// size is at most target. sh.mu must be held.
func (sh *cacheShard) evict(target int64) {
	for k, e := range sh.m {
		if sh.bytes <= target {
			return
		}
		delete(sh.m, k)
		sh.bytes -= int64(len(k) + len(e.rec) + entryOverhead)
	}
}

// remove forgets k. The caller holds k's stripe lock.
func (c *recordCache) remove(h uint64, k []byte) {
	if c == nil {
		return
	}
	sh := c.shard(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e := sh.m[string(k)]; e != nil {
		delete(sh.m, string(k))
		sh.bytes -= int64(len(k) + len(e.rec) + entryOverhead)
	}
}

// clear forgets everything. The caller holds every stripe lock.
func (c *recordCache) clear() {
	if c == nil {
		return
	}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		clear(sh.m)
		sh.bytes = 0
		sh.mu.Unlock()
	}
}
