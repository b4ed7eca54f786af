package node

import (
	"strings"
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
