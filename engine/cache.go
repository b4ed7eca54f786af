package engine

import (
	"bytes"
	"sync"
	"sync/atomic"

	"github.com/ringstore/ringstore/ring"
)

// recordCache keeps recently used records in memory, in their encoded form,
// so that Get and the read half of Merge usually cost a hash lookup instead
// of a walk of pebble's memtable skiplist (tens of cache misses).
//
// Coherence: an entry is added, replaced or removed only by a goroutine that
// holds the key's stripe lock, after pebble holds the same state (Merge after
// its write, Get after reading pebble, expiry after its write) or, for
// FlushDB, FlushAll and DropSlots, while holding every stripe lock. Readers
// that do not hold the lock (Get's fast path) therefore see either the
// state before an in-progress Merge or the state after it. Cached bytes are
// never modified, so records are decoded in place: the Value slices that
// Get, Merge and Update return alias them, and callers must treat those as
// read-only.
//
// Completeness: while complete is set, every record pebble holds has an
// entry, so a miss means the key is absent and needs no pebble read. A
// fresh store starts complete (Open found no record), and so does one just
// emptied by FlushAll; the first record that leaves the cache while pebble
// may still hold it (an eviction, a record too big to cache, a failed
// write, FlushDB's clear of the other databases' entries) ends it for good.
// That is what makes a write to a new key cost no pebble lookup, the common
// case of a store whose data fits in memory, as a Redis user's does: the
// lookup of a key that is nowhere is a memtable seek plus a bloom-filter
// probe per sstable, ~10-20% of a SET's CPU in profiles of fresh keys.
// Ordering: whoever drops a live entry clears complete first, under the
// shard lock, so a reader that misses afterwards (taking the same lock)
// also sees complete cleared.
//
// A nil *recordCache is a disabled cache.
type recordCache struct {
	shards   [cacheShards]cacheShard
	maxShard int64 // byte budget of one shard
	complete atomic.Bool
	lost     atomic.Uint64 // times completeness was ended (see incomplete)
}

const cacheShards = 64

// A shard's index is keyed by the key's 64-bit hash, with the key inside
// the entry, rather than by the key itself: a lookup then finds key and
// record headers in the index's own slot, where a string-keyed map of entry
// pointers costs a string hash and two more dependent cache misses (in
// profiles the lookup was ~5-7% of a node's CPU, most of it those misses);
// and the index is an entryTable, not a Go map, for the misses a map's
// own structure costs. Two keys with one hash share a slot: the later one
// displaces the other, which then misses (and ends completeness). Both
// keys take the same stripe lock (it is chosen by the hash), so a
// displacement never races with the displaced key's own update.
type cacheShard struct {
	mu    sync.Mutex
	m     entryTable          // hash of the pebble data key -> entry
	held  map[uint64]struct{} // entries an UpdateMany or SupersedeMany is replacing (see hold)
	bytes int64               // estimated size of m's keys, values and entries
	_     [72]byte            // 128 bytes a shard: neighbours share no line they write
}

// cacheEntry is a pebble data key followed by its record's encoding (none
// for a key known to be absent), in one allocation: kr[:klen] is the key,
// kr[klen:] the record. A lookup compares the key and then decodes the
// record, so keeping them together costs one cache miss where separate
// allocations cost two (in profiles of SET -P 16 the key comparison alone
// was ~4% of a node's CPU, nearly all of it that miss), and gives the
// garbage collector one pointer per entry to trace instead of two.
type cacheEntry struct {
	kr   []byte
	klen uint32
}

func (e cacheEntry) key() []byte { return e.kr[:e.klen] }

// keyed returns k followed by rec in a new exactly sized buffer, as put
// takes them.
func keyed(k, rec []byte) []byte {
	kr := make([]byte, len(k)+len(rec))
	copy(kr[copy(kr, k):], rec)
	return kr
}

// entryOverhead estimates the index slot (40 bytes, in a table between
// three eighths and three quarters full when it grew last: 53 to 107 bytes
// an entry) and the allocation header. The table does not shrink when
// entries go, so a shard that once held many small records keeps their
// slots: the estimate is a middle, not a bound.
const entryOverhead = 80

func newRecordCache(size int64) *recordCache {
	if size <= 0 {
		return nil
	}
	return &recordCache{maxShard: max(size/cacheShards, 1)}
}

func (c *recordCache) shard(h uint64) *cacheShard {
	return &c.shards[(h>>32)%cacheShards]
}

// get returns the cached record of pebble key k (hash h): rec is empty when
// the key is known to be absent. rec must not be modified.
func (c *recordCache) get(h uint64, k []byte) (rec []byte, ok bool) {
	kr, ok, _ := c.lookup(h, k)
	if !ok {
		return nil, false
	}
	return kr[len(k):], true
}

// lookup is get returning the entry's key and record together (k followed
// by the record, as put took them; just k when absent), and reporting a
// miss because the entry is held (see hold), which unlike a plain miss says
// nothing about pebble.
func (c *recordCache) lookup(h uint64, k []byte) (kr []byte, ok, held bool) {
	if c == nil {
		return nil, false, false
	}
	sh := c.shard(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.held) > 0 {
		if _, held := sh.held[h]; held {
			return nil, false, true // the caller takes the stripe lock and waits
		}
	}
	if e, ok := sh.m.get(h); ok && bytes.Equal(e.key(), k) {
		return e.kr, true, false // put replaces e.kr, never its bytes
	}
	return nil, false, false
}

// hold hides the entry of hash h from get until put or remove replaces it,
// so that a reader without the stripe lock misses and waits for the lock.
// UpdateMany (and SupersedeMany) holds every key of a batch before its
// commit and puts them after it, all under their stripe locks: a reader
// that saw one key's new record then finds each other key's new record or
// waits for it, never the old one, so the batch is atomic to readers too.
// The caller holds the stripe lock of h.
func (c *recordCache) hold(h uint64) {
	if c == nil {
		return
	}
	sh := c.shard(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.held == nil {
		sh.held = make(map[uint64]struct{})
	}
	sh.held[h] = struct{}{}
}

// put caches kr[klen:] (empty: absent) as the record of the pebble key
// kr[:klen], taking ownership of kr (see cacheEntry; keyed builds one). The
// caller holds the key's stripe lock.
func (c *recordCache) put(h uint64, kr []byte, klen int) {
	if c == nil {
		return
	}
	size := int64(len(kr) + entryOverhead)
	if size > c.maxShard/4 {
		// Too big to be worth the space: make sure no stale entry remains.
		c.forget(h, kr[:klen])
		return
	}
	sh := c.shard(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.held) > 0 {
		delete(sh.held, h)
	}
	if old, ok := sh.m.set(h, cacheEntry{kr: kr, klen: uint32(klen)}); ok {
		if !bytes.Equal(old.key(), kr[:klen]) {
			c.incomplete() // another key with the same hash: it is displaced
		}
		sh.bytes += int64(len(kr) - len(old.kr))
	} else {
		sh.bytes += size
	}
	if sh.bytes > c.maxShard {
		c.incomplete() // before any live entry goes
		sh.evict(c.maxShard - c.maxShard/8)
	}
}

// incomplete ends completeness and counts it, so that a warm-up can tell
// whether everything it read stayed cached.
func (c *recordCache) incomplete() {
	c.lost.Add(1)
	c.complete.Store(false)
}

// knownAbsent reports whether a key that missed the cache is absent from
// pebble too (the cache is complete). Call it after the miss.
func (c *recordCache) knownAbsent() bool {
	return c != nil && c.complete.Load()
}

// setComplete marks the cache complete: pebble holds no record without an
// entry. The caller holds every stripe lock and has just seen pebble empty.
func (c *recordCache) setComplete() {
	if c != nil {
		c.complete.Store(true)
	}
}

// evict removes entries from a random place on (effectively random keys,
// the table's order being their hashes') until the shard's size is at most
// target. sh.mu must be held and the cache marked incomplete.
func (sh *cacheShard) evict(target int64) {
	if sh.bytes <= target {
		return
	}
	sh.m.evict(func(e cacheEntry) bool {
		sh.bytes -= int64(len(e.kr) + entryOverhead)
		return sh.bytes > target
	})
}

// forget forgets k while pebble may still hold a record for it, which ends
// completeness. The caller holds k's stripe lock.
func (c *recordCache) forget(h uint64, k []byte) {
	if c == nil {
		return
	}
	c.incomplete()
	c.remove(h, k)
}

// remove forgets k, which pebble no longer holds (or which the caller
// re-adds under the same lock). The caller holds k's stripe lock.
func (c *recordCache) remove(h uint64, k []byte) {
	if c == nil {
		return
	}
	sh := c.shard(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.held) > 0 {
		delete(sh.held, h)
	}
	if e, ok := sh.m.get(h); ok && bytes.Equal(e.key(), k) {
		sh.m.del(h)
		sh.bytes -= int64(len(e.kr) + entryOverhead)
	}
}

// clear forgets everything, which ends completeness (FlushAll restores it
// once pebble is empty). The caller holds every stripe lock.
func (c *recordCache) clear() {
	if c == nil {
		return
	}
	c.incomplete()
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.m.clear()
		clear(sh.held)
		sh.bytes = 0
		sh.mu.Unlock()
	}
}

// dropSlots forgets the entries of the slots marked in drop, whose records
// pebble no longer holds, so completeness stays. The caller holds every
// stripe lock.
func (c *recordCache) dropSlots(drop *[ring.NumSlots]bool) {
	if c == nil {
		return
	}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.m.filter(func(_ uint64, e cacheEntry) bool {
			if k := e.key(); len(k) >= 3 && k[0] == nsData && drop[dataKeySlot(k)] {
				sh.bytes -= int64(len(e.kr) + entryOverhead)
				return false
			}
			return true
		})
		sh.mu.Unlock()
	}
}
