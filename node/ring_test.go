package node

import (
	"testing"

	"github.com/ringstore/ringstore/cluster"
	"github.com/ringstore/ringstore/ring"
)

// TestRingViewSharesTheCoordinatorsTopology: CLUSTER SLOTS (the RingView)
// and KEYS, SCAN and DBSIZE (the coordinator) apply the master rule to the
// same converted Topology of a snapshot, not to two conversions that could
// drift apart; and the conversion takes health and syncing from the
// snapshot as cluster defines them (Up, Ready).
func TestRingViewSharesTheCoordinatorsTopology(t *testing.T) {
	log := cluster.LogDigest{Count: 4, Hash: 42}
	snap := func() *cluster.Snapshot {
		return &cluster.Snapshot{
			Self: "a",
			Table: ring.Build([]ring.Event{
				{Kind: ring.EventJoin, Node: "a", Stamp: 1},
				{Kind: ring.EventJoin, Node: "b", Stamp: 2},
				{Kind: ring.EventJoin, Node: "c", Stamp: 3},
				{Kind: ring.EventJoin, Node: "d", Stamp: 4},
			}),
			Log: log,
			Members: map[string]cluster.Member{
				"a": {ID: "a", State: cluster.MemberUp, Synced: log},
				"b": {ID: "b", State: cluster.MemberSuspect, Synced: log},
				"c": {ID: "c", State: cluster.MemberUp},
				"d": {ID: "d", State: cluster.MemberDown},
				"e": {ID: "e", State: cluster.MemberUp}, // joining, not in the table
			},
		}
	}
	tv := &topologyView{n: 3}
	s := snap()
	topo := tv.of(s)
	v := ringView(s, tv)
	if v.Topology != topo || tv.of(s) != topo {
		t.Fatal("the RingView of a snapshot does not share the coordinator's Topology of it")
	}
	if v.Self != "a" || v.Topology.N != 3 || v.Topology.Table != s.Table {
		t.Fatalf("view: self %q, N %d", v.Self, v.Topology.N)
	}
	for id, want := range map[string][2]bool{"a": {false, false}, "b": {true, false}, "c": {false, true}, "d": {true, true}} {
		if got := [2]bool{topo.Down[id], topo.Syncing[id]}; got != want {
			t.Errorf("%s: down, syncing = %v, want %v", id, got, want)
		}
	}
	if len(v.Members) != 5 || v.Members["b"].State != "suspect" {
		t.Errorf("members %v", v.Members)
	}
	// A new snapshot, even an equal one, gets its own conversion, which the
	// view then shares again.
	s2 := snap()
	s2.Epoch = 5
	topo2 := tv.of(s2)
	if topo2 == topo || ringView(s2, tv).Topology != topo2 {
		t.Fatal("a new snapshot reused the old Topology, or the view did not share the new one")
	}
	// Converting an older snapshot (a View racing a change) leaves the
	// current conversion cached.
	old := snap()
	old.Epoch = 4
	if tv.of(old) == topo2 || tv.of(s2) != topo2 {
		t.Fatal("an older snapshot evicted the current Topology")
	}
}
