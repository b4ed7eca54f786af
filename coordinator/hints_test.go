package coordinator_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/ringstore/ringstore/coordinator"
	"github.com/ringstore/ringstore/coordinator/coordtest"
)

// TestPartitionedReplicaGetsHintsAfterHeal: three nodes, N=3, one cut off
// while writes and deletes continue with W=2. Every write is acknowledged;
// after the heal, handoff brings the third replica every key, and deletes
// stay deleted.
func TestPartitionedReplicaGetsHintsAfterHeal(t *testing.T) {
	ctx := context.Background()
	tc := newTestCluster(t, 3, 11)
	tc.net.Add(coordtest.Partition{A: tc.ids[2:], B: tc.ids[:2]})
	want := map[string]string{}
	for i := range 60 {
		key := fmt.Sprint("k", i)
		if err := tc.nodes[i%2].Set(ctx, 0, []byte(key), str(fmt.Sprint("v", i))); err != nil {
			t.Fatalf("write during partition: %v", err)
		}
		want[key] = fmt.Sprint("v", i)
	}
	for i := 0; i < 60; i += 3 {
		key := fmt.Sprint("k", i)
		if _, err := tc.nodes[1].Del(ctx, 0, []byte(key)); err != nil {
			t.Fatalf("delete during partition: %v", err)
		}
		want[key] = ""
	}
	tc.settle()
	if tc.pendingHints() == 0 {
		t.Fatal("no hints kept for the partitioned replica")
	}
	tc.net.Heal()
	waitFor(t, "hints handed off", func() bool { return tc.pendingHints() == 0 })
	for key, v := range want {
		for i := range tc.stores {
			if got := tc.visibleOn(i, key); got != v {
				t.Fatalf("store %d: %s = %q, want %q", i, key, got, v)
			}
		}
	}
}

// TestSloppyQuorumUsesStandIn: five nodes, one preference-list node marked
// down by gossip. Writes go to the next healthy node, which stores the value
// (readable at once) and a hint that reaches the owner when it is back.
func TestSloppyQuorumUsesStandIn(t *testing.T) {
	ctx := context.Background()
	tc := newTestCluster(t, 5, 12)
	down := 4
	tc.net.Register(tc.ids[down], nil) // crashed
	tc.setDown(tc.ids[down])
	for i := range 40 {
		key := fmt.Sprint("s", i)
		if err := tc.nodes[0].Set(coordinator.WithQuorum(ctx, 3, 3), 0, []byte(key), str("x")); err != nil {
			t.Fatalf("W=3 write with a stand-in: %v", err)
		}
		if v, ok, err := tc.nodes[1].Get(coordinator.WithQuorum(ctx, 3, 3), 0, []byte(key)); err != nil || !ok || string(v.Data) != "x" {
			t.Fatalf("R=3 read during the failure: %q %v %v", v.Data, ok, err)
		}
	}
	tc.settle()
	if tc.pendingHints() == 0 {
		t.Fatal("no hints kept")
	}
	// The node comes back.
	tc.net.Register(tc.ids[down], peerFor(tc, down))
	tc.setDown()
	waitFor(t, "hints handed off", func() bool { return tc.pendingHints() == 0 })
	held := 0
	for i := range 40 {
		if tc.visibleOn(down, fmt.Sprint("s", i)) == "x" {
			held++
		}
	}
	if held == 0 {
		t.Fatal("the recovered node holds none of the keys it owns")
	}
}

func peerFor(tc *testCluster, i int) peer { return peer{tc.nodes[i]} }

// TestStaleDownViewStillWrites: this node believes a peer is down (its view
// lags, e.g. just after a pause or restart) though the peer answers. With
// no stand-in available the peer is tried anyway, so the write reaches its
// quorum instead of failing.
func TestStaleDownViewStillWrites(t *testing.T) {
	ctx := context.Background()
	tc := newTestCluster(t, 3, 13)
	tc.setDown(tc.ids[1], tc.ids[2])
	if err := tc.nodes[0].Set(coordinator.WithQuorum(ctx, 3, 3), 0, []byte("k"), str("v")); err != nil {
		t.Fatalf("write with a stale view of two reachable peers: %v", err)
	}
	if v, ok, err := tc.nodes[0].Get(coordinator.WithQuorum(ctx, 3, 3), 0, []byte("k")); err != nil || !ok || string(v.Data) != "v" {
		t.Fatalf("read with a stale view: %q %v %v", v.Data, ok, err)
	}
}
