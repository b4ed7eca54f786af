package node

import (
	"context"
	"testing"
	"time"

	"github.com/ringstore/ringstore/ring"
)

// misplaced counts the keys missing from a running node of their
// preference list, read from the stores directly.
func (tc *testCluster) misplaced(keys []string) int {
	byID := map[string]*Node{}
	for _, nd := range tc.running() {
		byID[nd.ID()] = nd
	}
	tb := tc.running()[0].members.Snapshot().Table
	n := 0
	for _, key := range keys {
		for _, id := range tb.PreferenceList(nil, ring.Slot([]byte(key)), 3) {
			nd := byID[id]
			if nd == nil {
				continue
			}
			if sib, err := nd.store.Get(0, []byte(key)); err != nil || sib == nil {
				n++
			}
		}
	}
	return n
}

// TestClusterRestartPullsOnlyGainedSlots: a node that restarts pulls none
// of the slots it kept (what it missed while down reaches it by hints and
// anti-entropy), and after a member left while it was down, only the slots
// it gained; then every key is on its whole preference list again.
func TestClusterRestartPullsOnlyGainedSlots(t *testing.T) {
	ctx := context.Background()
	tc := startTestClusterWith(t, 4, func(c *Config) { c.AntiEntropyInterval = 100 * time.Millisecond })
	keys := tc.writeKeys("before:", "", 300)
	tc.waitSynced(4)

	// A restart with the ring unchanged.
	tc.nodes[3].Close()
	tc.nodes[3] = nil
	keys = append(keys, tc.writeKeys("down1:", "", 100)...)
	tc.start(3)
	tc.waitSynced(4)
	if st := tc.nodes[3].transfers.Stats(); st.SlotsPulled.Load() != 0 || st.Records.Load() != 0 {
		t.Fatalf("the restarted node pulled %d slots (%d records) of a ring that did not change", st.SlotsPulled.Load(), st.Records.Load())
	}
	waitFor(t, "the restarted node to catch up", func() bool { return tc.misplaced(keys) == 0 })
	tc.checkPlacement(keys)

	// Node 1 leaves while node 3 is down: node 3 gains the slots that
	// node 1 held with it.
	tc.nodes[3].Close()
	tc.nodes[3] = nil
	keys = append(keys, tc.writeKeys("down2:", "", 100)...)
	leaver := tc.nodes[1]
	if err := leaver.members.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	leaver.Close()
	tc.nodes[1] = nil
	waitFor(t, "the leave to be pulled by the running nodes", func() bool {
		for _, nd := range tc.running() {
			s := nd.members.Snapshot()
			if s.Table.Len() != 3 || nd.transfers.Stats().SlotsPending.Load() != 0 || !s.Ready(nd.ID()) {
				return false
			}
		}
		return true
	})
	tc.start(3)
	tc.waitSynced(3)
	pulled := tc.nodes[3].transfers.Stats().SlotsPulled.Load()
	// Three nodes, N=3: every node now holds all 16384 slots; with four it
	// held about three quarters of them.
	if pulled == 0 || pulled > ring.NumSlots/2 {
		t.Fatalf("the restarted node pulled %d slots, want about the %d it gained", pulled, ring.NumSlots/4)
	}
	t.Logf("after the leave the restarted node pulled %d slots, %d records", pulled, tc.nodes[3].transfers.Stats().Records.Load())
	waitFor(t, "every key on its whole preference list", func() bool { return tc.misplaced(keys) == 0 })
	tc.checkPlacement(keys)
}
