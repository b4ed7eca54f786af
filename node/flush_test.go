package node

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestClusterFlushEmptiesEveryReplica: FLUSHDB and FLUSHALL through one
// node empty that database on every ring member, and the keys stay gone
// through several anti-entropy rounds (every 30 ms, so that some run while
// the members flush); with a member down, FLUSHALL is refused and nothing
// is flushed.
func TestClusterFlushEmptiesEveryReplica(t *testing.T) {
	ctx := context.Background()
	tc := startTestClusterWith(t, 3, func(c *Config) { c.AntiEntropyInterval = 30 * time.Millisecond })
	tc.waitSynced(3)
	keys := tc.writeKeys("fl:", "", 100)
	conn := tc.client(1).Conn() // one connection, so that SELECT sticks
	defer conn.Close()
	if err := conn.Select(ctx, 1).Err(); err != nil {
		t.Fatal(err)
	}
	if err := conn.Set(ctx, "in-db-1", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	stored := func(db int, key string) int {
		n := 0
		for _, nd := range tc.running() {
			if sib, err := nd.store.Get(db, []byte(key)); err == nil && sib != nil {
				n++
			}
		}
		return n
	}
	waitRounds := func() {
		t.Helper()
		start := map[*Node]int64{}
		for _, nd := range tc.running() {
			start[nd] = nd.antiEntropy.Stats().Rounds.Load()
		}
		waitFor(t, "three anti-entropy rounds on every node", func() bool {
			for nd, n := range start {
				if nd.antiEntropy.Stats().Rounds.Load() < n+3 {
					return false
				}
			}
			return true
		})
	}

	if got, err := conn.FlushDB(ctx).Result(); err != nil || got != "OK" {
		t.Fatalf("FLUSHDB in db 1: %q, %v", got, err)
	}
	waitRounds()
	if n := stored(1, "in-db-1"); n != 0 {
		t.Fatalf("db 1's key is on %d nodes after FLUSHDB", n)
	}
	if n := stored(0, keys[0]); n != 3 {
		t.Fatalf("FLUSHDB in db 1 touched db 0: %s is on %d nodes", keys[0], n)
	}

	// A copy from before the flush, as a replica write, hint or repair that
	// arrives late would carry it.
	late, err := tc.nodes[2].store.Get(0, []byte(keys[0]))
	if err != nil || late == nil {
		t.Fatalf("no copy of %s before the flush: %v", keys[0], err)
	}
	if got, err := tc.client(0).FlushAll(ctx).Result(); err != nil || got != "OK" {
		t.Fatalf("FLUSHALL: %q, %v", got, err)
	}
	if err := tc.nodes[1].coord.ServeWrite(ctx, 0, []byte(keys[0]), late, ""); err != nil {
		t.Fatal(err)
	}
	waitRounds()
	for _, key := range keys {
		if n := stored(0, key); n != 0 {
			t.Fatalf("%s is back on %d nodes after FLUSHALL and anti-entropy", key, n)
		}
	}
	// Writes after the flush are kept, through every node.
	after := tc.writeKeys("after:", "", 30)
	for _, key := range after {
		if n := stored(0, key); n != 3 {
			t.Fatalf("%s, written after FLUSHALL, is on %d nodes", key, n)
		}
	}

	// A member down: FLUSHALL is refused, and flushes nothing.
	tc.nodes[2].Close()
	tc.nodes[2] = nil
	waitFor(t, "node 0 to see node 2 down", func() bool {
		return !tc.nodes[0].members.Snapshot().Up(tc.ids[2])
	})
	err = tc.client(0).FlushAll(ctx).Err()
	if err == nil || !strings.Contains(err.Error(), "is down") {
		t.Fatalf("FLUSHALL with a member down: %v", err)
	}
	if n := stored(0, after[0]); n != 2 {
		t.Fatalf("a refused FLUSHALL flushed: %s is on %d of the 2 running nodes", after[0], n)
	}
}
