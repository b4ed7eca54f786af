package engine

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
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
