package engine

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/ringstore/ringstore/version"
)

// pebbleRecord reads key's record straight from pebble, past the cache.
func pebbleRecord(t *testing.T, s *Store, db int, key string) version.Siblings {
	t.Helper()
	val, closer, err := s.db.Get(appendDataKey(nil, db, []byte(key)))
	if err == pebble.ErrNotFound {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	sib, _, err := decodeRecord(val, nil)
	if err != nil {
		t.Fatal(err)
	}
	return sib
}

func TestRecordCacheStaysCoherent(t *testing.T) {
	for name, size := range map[string]int64{"tiny cache": 32 << 10, "large cache": 8 << 20, "no cache": -1} {
		t.Run(name, func(t *testing.T) {
			s := newTestStore(t, nil, func(c *Config) { c.RecordCacheSize = size })
			const writers, keys, rounds = 4, 20, 100
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					node := fmt.Sprintf("n%d", w)
					for i := range rounds {
						key := fmt.Sprintf("k%d", (i*7+w)%keys)
						in := version.Siblings{ver(node, uint64(i+1), t0+int64(i), fmt.Sprint(i))}
						if _, err := s.Merge(0, []byte(key), in); err != nil {
							t.Error(err)
							return
						}
						// Read your write: the stored set holds it or something
						// that descends from it.
						got, err := s.Get(0, []byte(key))
						if err != nil {
							t.Error(err)
							return
						}
						if !got.Clock().Descends(in[0].Clock) {
							t.Errorf("%s: after Merge, Get %v does not include write %d of %s", key, values(got), i, node)
							return
						}
						// Reads of keys nobody writes cache their absence.
						if _, err := s.Get(0, []byte(fmt.Sprintf("absent%d", i))); err != nil {
							t.Error(err)
						}
					}
				})
			}
			// Concurrent readers exercise the lock-free path and the fills.
			for range 2 {
				wg.Go(func() {
					for i := range rounds * writers {
						if _, err := s.Get(0, []byte(fmt.Sprintf("k%d", i%keys))); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			for i := range keys {
				key := fmt.Sprintf("k%d", i)
				if got, want := mustGet(t, s, 0, key), pebbleRecord(t, s, 0, key); !got.Equal(want) {
					t.Errorf("%s: Get %v, pebble holds %v", key, values(got), values(want))
				}
			}
		})
	}
}

func TestRecordCacheIsBounded(t *testing.T) {
	const size = 64 << 10
	s := newTestStore(t, nil, func(c *Config) { c.RecordCacheSize = size })
	for i := range 3000 {
		mustMerge(t, s, 0, fmt.Sprintf("key%d", i), ver("a", 1, t0, fmt.Sprintf("value%d", i)))
	}
	var total int64
	for i := range s.cache.shards {
		sh := &s.cache.shards[i]
		sh.mu.Lock()
		if sh.bytes > s.cache.maxShard {
			t.Errorf("shard %d holds %d bytes, budget %d", i, sh.bytes, s.cache.maxShard)
		}
		total += sh.bytes
		sh.mu.Unlock()
	}
	if total > size {
		t.Fatalf("cache holds %d bytes, budget %d", total, size)
	}
	// Evicted records are read from pebble.
	for i := range 3000 {
		if got := values(mustGet(t, s, 0, fmt.Sprintf("key%d", i))); len(got) != 1 || got[0] != fmt.Sprintf("value%d", i) {
			t.Fatalf("key%d = %q", i, got)
		}
	}
}

func TestRecordCacheForgetsRemovedRecords(t *testing.T) {
	clk := newFakeClock(t0)
	s := newTestStore(t, clk, withGrace)
	// Absence is cached, and a write replaces it.
	if got := mustGet(t, s, 0, "k"); got != nil {
		t.Fatal(got)
	}
	mustMerge(t, s, 0, "k", ver("a", 1, t0, "v"))
	if got := values(mustGet(t, s, 0, "k")); len(got) != 1 {
		t.Fatalf("write after a cached absence: %q", got)
	}
	// Expiry rewrites and purges are seen.
	mustMerge(t, s, 0, "e", expiring("a", 1, t0, time.Millisecond, "v"))
	mustGet(t, s, 0, "e")
	clk.Set(t0 + 5)
	s.expireCycle()
	if got := mustGet(t, s, 0, "e"); len(got) != 1 || !got[0].Tombstone {
		t.Fatalf("after expiry: %v", values(got))
	}
	clk.Set(t0 + 5 + grace.Milliseconds())
	s.expireCycle()
	if got := mustGet(t, s, 0, "e"); got != nil {
		t.Fatalf("after purge: %v", values(got))
	}
	// Flushes empty it.
	mustGet(t, s, 0, "k")
	if err := s.FlushDB(0); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, 0, "k"); got != nil {
		t.Fatalf("after FlushDB: %v", values(got))
	}
	mustMerge(t, s, 0, "k", ver("a", 2, t0, "v2"))
	mustGet(t, s, 0, "k")
	if err := s.FlushAll(); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, 0, "k"); got != nil {
		t.Fatalf("after FlushAll: %v", values(got))
	}
}

// TestCompleteCache: a miss of a complete cache answers "absent" without
// pebble, so completeness must end whenever pebble may hold a record the
// cache does not; every case below would read a present key as absent if
// it did not.
func TestCompleteCache(t *testing.T) {
	complete := func(s *Store) bool { return s.cache.complete.Load() }
	t.Run("fresh store, writes, reads, expiry keep it", func(t *testing.T) {
		clk := newFakeClock(t0)
		s := newTestStore(t, clk, withGrace)
		if !complete(s) {
			t.Fatal("a fresh store's cache is not complete")
		}
		mustMerge(t, s, 0, "k", ver("a", 1, t0, "v"))
		mustMerge(t, s, 0, "e", expiring("a", 1, t0, time.Millisecond, "v"))
		if got := mustGet(t, s, 0, "absent"); got != nil {
			t.Fatal(values(got))
		}
		mustMerge(t, s, 0, "new", ver("a", 1, t0, "v"))
		if n := s.Stats().PebbleReads; n != 0 {
			t.Fatalf("%d pebble reads although the cache is complete", n)
		}
		clk.Set(t0 + 5)
		s.expireCycle()
		// The expired value became a tombstone that keeps its clock, and the
		// cache holds it: a later write must see that clock.
		if got := mustGet(t, s, 0, "e"); len(got) != 1 || !got[0].Tombstone {
			t.Fatalf("after expiry: %v", got)
		}
		if !complete(s) {
			t.Fatal("expiry ended completeness")
		}
	})
	t.Run("reopen warms the cache and is complete when everything fits", func(t *testing.T) {
		fs := vfs.NewMem()
		s := newTestStore(t, nil, func(c *Config) { c.FS = fs })
		mustMerge(t, s, 0, "k", ver("a", 1, t0, "v"))
		mustMerge(t, s, 3, "k3", ver("a", 1, t0, "v3"))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = newTestStore(t, nil, func(c *Config) { c.FS = fs })
		if !complete(s) {
			t.Fatal("not complete although every record fit the cache")
		}
		if got := values(mustGet(t, s, 0, "k")); len(got) != 1 || got[0] != "v" {
			t.Fatalf("after reopen: %q", got)
		}
		if got := values(mustGet(t, s, 3, "k3")); len(got) != 1 || got[0] != "v3" {
			t.Fatalf("after reopen: %q", got)
		}
		if got := mustGet(t, s, 0, "absent"); got != nil {
			t.Fatal(values(got))
		}
		if n := s.Stats().PebbleReads; n != 0 {
			t.Fatalf("%d pebble reads although the warmed cache is complete", n)
		}
	})
	t.Run("reopen with more records than the cache holds is not complete", func(t *testing.T) {
		fs := vfs.NewMem()
		tiny := func(c *Config) { c.FS = fs; c.RecordCacheSize = 64 << 10 }
		s := newTestStore(t, nil, func(c *Config) { c.FS = fs })
		for i := range 3000 {
			mustMerge(t, s, 0, fmt.Sprintf("key%d", i), ver("a", 1, t0, "v"))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = newTestStore(t, nil, tiny)
		if complete(s) {
			t.Fatal("complete although the records did not fit")
		}
		for i := range 3000 {
			if mustGet(t, s, 0, fmt.Sprintf("key%d", i)) == nil {
				t.Fatalf("key%d read as absent after reopen", i)
			}
		}
	})
	t.Run("eviction ends it", func(t *testing.T) {
		s := newTestStore(t, nil, func(c *Config) { c.RecordCacheSize = 64 << 10 })
		for i := range 3000 {
			mustMerge(t, s, 0, fmt.Sprintf("key%d", i), ver("a", 1, t0, "v"))
		}
		if complete(s) {
			t.Fatal("complete after evictions")
		}
		for i := range 3000 {
			if mustGet(t, s, 0, fmt.Sprintf("key%d", i)) == nil {
				t.Fatalf("key%d read as absent after eviction", i)
			}
		}
		if s.Stats().PebbleReads == 0 {
			t.Fatal("evicted records were not read from pebble")
		}
	})
	t.Run("a record too big to cache ends it", func(t *testing.T) {
		s := newTestStore(t, nil, func(c *Config) { c.RecordCacheSize = 64 << 10 })
		mustMerge(t, s, 0, "big", ver("a", 1, t0, string(make([]byte, 4096))))
		if complete(s) {
			t.Fatal("complete although a record was not cached")
		}
		if mustGet(t, s, 0, "big") == nil {
			t.Fatal("uncached big record read as absent")
		}
	})
	t.Run("FlushDB ends it, FlushAll restores it", func(t *testing.T) {
		s := newTestStore(t, nil)
		mustMerge(t, s, 0, "k0", ver("a", 1, t0, "v"))
		mustMerge(t, s, 1, "k1", ver("a", 1, t0, "v"))
		if err := s.FlushDB(0); err != nil {
			t.Fatal(err)
		}
		if complete(s) {
			t.Fatal("complete after FlushDB cleared the other databases' entries")
		}
		if mustGet(t, s, 1, "k1") == nil {
			t.Fatal("db 1's record read as absent after FLUSHDB of db 0")
		}
		if err := s.FlushAll(); err != nil {
			t.Fatal(err)
		}
		if !complete(s) {
			t.Fatal("not complete after FlushAll emptied the store")
		}
		if mustGet(t, s, 1, "k1") != nil {
			t.Fatal("record survived FlushAll")
		}
	})
}

// TestRecordCacheHashCollision: two keys with one hash share a map slot;
// the later displaces the earlier, which must then miss (not answer with the
// other's record), and the cache can no longer claim completeness.
func TestRecordCacheHashCollision(t *testing.T) {
	c := newRecordCache(1 << 20)
	c.setComplete()
	const h = 42
	c.put(h, []byte("ara"), 1)
	if rec, ok := c.get(h, []byte("a")); !ok || string(rec) != "ra" {
		t.Fatalf("get a = %q, %v", rec, ok)
	}
	c.put(h, []byte("brb"), 1)
	if rec, ok := c.get(h, []byte("a")); ok {
		t.Fatalf("displaced key a still hits: %q", rec)
	}
	if c.knownAbsent() {
		t.Fatal("complete after a displacement: a miss of a would read as absent")
	}
	c.remove(h, []byte("a")) // must not remove b
	if rec, ok := c.get(h, []byte("b")); !ok || string(rec) != "rb" {
		t.Fatalf("get b = %q, %v", rec, ok)
	}
	c.remove(h, []byte("b"))
	if _, ok := c.get(h, []byte("b")); ok {
		t.Fatal("b survived its removal")
	}
	for i := range c.shards {
		if b := c.shards[i].bytes; b != 0 {
			t.Fatalf("shard %d accounts %d bytes after every entry left", i, b)
		}
	}
}

// TestCachedRecord: CachedRecord hands out exactly the bytes Get's siblings
// encode to, says absent for a key a complete cache does not hold, and
// defers to Get (ok false) for a key only pebble may hold.
func TestCachedRecord(t *testing.T) {
	s := newTestStore(t, nil)
	mustMerge(t, s, 2, "k", ver("a", 1, t0, "v"), ver("b", 1, t0+1, "w"))
	rec, ok := s.CachedRecord(2, []byte("k"))
	if want := mustGet(t, s, 2, "k").AppendBinary(nil); !ok || !bytes.Equal(rec, want) {
		t.Fatalf("CachedRecord = %x, %v; want %x, true", rec, ok, want)
	}
	if rec, ok := s.CachedRecord(2, []byte("absent")); !ok || rec != nil {
		t.Fatalf("absent key: %x, %v; want nil, true", rec, ok)
	}
	if _, ok := s.CachedRecord(99, []byte("k")); ok {
		t.Fatal("a database out of range answers")
	}
	// An entry an UpdateMany is replacing (held) is neither old nor absent.
	for _, key := range []string{"k", "absent"} {
		k := appendDataKey(nil, 2, []byte(key))
		s.cache.hold(s.hash(k))
		if rec, ok := s.CachedRecord(2, []byte(key)); ok {
			t.Fatalf("%s: held entry answered %x", key, rec)
		}
		s.cache.remove(s.hash(k), k)
	}

	// A cache too small for the records: evicted keys are pebble's to answer.
	s = newTestStore(t, nil, func(c *Config) { c.RecordCacheSize = 4 << 10 })
	for i := range 500 {
		mustMerge(t, s, 0, fmt.Sprint("key", i), ver("a", 1, t0, strings.Repeat("v", 50)))
	}
	missed := 0
	for i := range 500 {
		key := fmt.Sprint("key", i)
		rec, ok := s.CachedRecord(0, []byte(key))
		if !ok {
			missed++
			continue
		}
		if want := mustGet(t, s, 0, key).AppendBinary(nil); !bytes.Equal(rec, want) {
			t.Fatalf("%s: CachedRecord %x, Get encodes to %x", key, rec, want)
		}
	}
	// GetRecord hands out the record its siblings came from, cached or not.
	for i := range 500 {
		key := []byte(fmt.Sprint("key", i))
		sib, rec, err := s.GetRecord(0, key)
		if err != nil || len(sib) != 1 || !bytes.Equal(rec, sib.AppendBinary(nil)) {
			t.Fatalf("%s: GetRecord = %v, %x, %v", key, sib, rec, err)
		}
	}
	if sib, rec, err := s.GetRecord(0, []byte("never written")); sib != nil || rec != nil || err != nil {
		t.Fatalf("absent key: GetRecord = %v, %x, %v", sib, rec, err)
	}
	if missed == 0 {
		t.Fatal("every key answered from a cache too small to hold them all")
	}
	if _, ok := s.CachedRecord(0, []byte("never written")); ok {
		t.Fatal("an incomplete cache answered for a key it does not hold")
	}
}
