package node

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringstore/ringstore/version"
)

// TestClusterAntiEntropyRepairs lets the replicas of a 3-node ring diverge
// behind the coordinators' backs (one node loses all its data, another
// alone receives newer versions of some keys) and checks that anti-entropy
// alone, with no client read to trigger read repair, brings every replica
// back to the same records.
func TestClusterAntiEntropyRepairs(t *testing.T) {
	tc := startTestClusterWith(t, 3, func(c *Config) {
		c.AntiEntropyInterval = 50 * time.Millisecond
		c.ReadRepairChance = 0
	})
	keys := tc.writeKeys("ae:", "v1", 300)
	tc.waitSynced(3)

	// Node 2 loses everything; node 1 alone gets a newer version of the
	// first 20 keys.
	if err := tc.nodes[2].store.FlushAll(); err != nil {
		t.Fatal(err)
	}
	st1 := tc.nodes[1].store
	now := time.Now().UnixMilli()
	for _, key := range keys[:20] {
		cur, err := st1.Get(0, []byte(key))
		if err != nil || len(cur) == 0 {
			t.Fatalf("node 1 lacks %q before the divergence: %v", key, err)
		}
		at := version.MakeHLC(now, 0)
		v := version.Version{Clock: cur.Clock().Increment("outsider", at), Timestamp: at, Writer: "outsider", Kind: version.KindString, Value: []byte("v2")}
		if _, err := st1.Merge(0, []byte(key), version.Siblings{v}); err != nil {
			t.Fatal(err)
		}
	}

	start := time.Now()
	waitFor(t, "replicas to converge", func() bool {
		for _, key := range keys {
			var first version.Siblings
			for i, nd := range tc.nodes {
				sib, err := nd.store.Get(0, []byte(key))
				if err != nil || len(sib) == 0 {
					return false
				}
				if i == 0 {
					first = sib
				} else if !sib.Equal(first) {
					return false
				}
			}
		}
		return true
	})
	var pulled, pushed int64
	for _, nd := range tc.nodes {
		st := nd.antiEntropy.Stats()
		pulled += st.KeysPulled.Load()
		pushed += st.KeysPushed.Load()
	}
	t.Logf("converged in %v: %d records pulled, %d pushed", time.Since(start).Round(time.Millisecond), pulled, pushed)
	if pulled+pushed < 300 {
		t.Fatalf("only %d repairs for 300 lost records and 20 newer ones", pulled+pushed)
	}
	for _, nd := range tc.nodes {
		sib, _ := nd.store.Get(0, []byte(keys[0]))
		if v, ok := sib.Visible(time.Now().UnixMilli()); !ok || string(v.Value) != "v2" {
			t.Fatalf("node %s holds %q for %q, want the newer v2", nd.ID()[:8], v.Value, keys[0])
		}
	}
	if info := tc.nodes[0].info("ringstore"); !strings.Contains(info, "antientropy_rounds:") {
		t.Fatalf("INFO ringstore has no anti-entropy fields:\n%s", info)
	}
}

// TestClusterAntiEntropyUnderWrites runs anti-entropy rounds every 20 ms
// while clients write through every node and one node silently loses its
// data, once during the writes and once after them; every replica then
// converges, and every key holds its last acknowledged value everywhere.
func TestClusterAntiEntropyUnderWrites(t *testing.T) {
	tc := startTestClusterWith(t, 3, func(c *Config) {
		c.AntiEntropyInterval = 20 * time.Millisecond
		c.ReadRepairChance = 0
	})
	tc.waitSynced(3)
	ctx := context.Background()
	last := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 3 {
		c := tc.client(w)
		wg.Go(func() {
			for i := range 400 {
				key := fmt.Sprint("uw:", (i*7+w)%150)
				val := fmt.Sprint(w, "-", i)
				mu.Lock() // one writer per key at a time, so "last" is well defined
				if err := c.Set(ctx, key, val, 0).Err(); err != nil {
					mu.Unlock()
					t.Error(err)
					return
				}
				last[key] = val
				mu.Unlock()
				if w == 0 && i == 200 {
					if err := tc.nodes[2].store.FlushAll(); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	for _, nd := range tc.nodes {
		nd.coord.Quiesce()
	}
	// And once more after the last write, so that only anti-entropy can
	// bring node 2's copies back.
	if err := tc.nodes[2].store.FlushAll(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "replicas to converge after the writes", func() bool {
		for key, want := range last {
			for _, nd := range tc.nodes {
				sib, err := nd.store.Get(0, []byte(key))
				if err != nil {
					return false
				}
				v, ok := sib.Visible(time.Now().UnixMilli())
				if !ok || string(v.Value) != want {
					return false
				}
			}
		}
		return true
	})
}
