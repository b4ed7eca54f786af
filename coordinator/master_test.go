package coordinator

import (
	"testing"

	"github.com/ringstore/ringstore/ring"
)

// TestMasterPassesOverSyncingNodes: a syncing node is master of a slot only
// when no other healthy node of the slot's preference list is ready.
func TestMasterPassesOverSyncingNodes(t *testing.T) {
	tb := ring.Build([]ring.Event{
		{Kind: ring.EventJoin, Node: "a", Stamp: 1},
		{Kind: ring.EventJoin, Node: "b", Stamp: 2},
		{Kind: ring.EventJoin, Node: "c", Stamp: 3},
		{Kind: ring.EventJoin, Node: "d", Stamp: 4},
	})
	var slot uint16
	for tb.Primary(slot) != "d" {
		slot++
	}
	pl := tb.PreferenceList(nil, slot, 3) // d, then two others
	for _, tc := range []struct {
		name    string
		down    []string
		syncing []string
		n       int
		want    string
	}{
		{"ready primary", nil, nil, 3, "d"},
		{"syncing primary", nil, []string{"d"}, 3, pl[1]},
		{"syncing primary, second down", []string{pl[1]}, []string{"d"}, 3, pl[2]},
		{"everyone syncing", nil, []string{"d", pl[1], pl[2]}, 3, "d"},
		{"syncing and down", []string{"d"}, []string{pl[1]}, 3, pl[2]},
		{"rule off (N=0)", nil, []string{"d"}, 0, "d"},
		{"only stand-ins up", pl, nil, 3, tb.Walk(nil, slot)[3]},
	} {
		topo := &Topology{Table: tb, Down: map[string]bool{}, Syncing: map[string]bool{}, N: tc.n}
		for _, id := range tc.down {
			topo.Down[id] = true
		}
		for _, id := range tc.syncing {
			topo.Syncing[id] = true
		}
		if got := topo.Master(slot, "zz"); got != tc.want {
			t.Errorf("%s: master %s, want %s", tc.name, got, tc.want)
		}
	}
}
