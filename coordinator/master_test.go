package coordinator

import (
	"slices"
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

// TestServingListsMasterFirst: Serving names the healthy nodes of the
// preference list in order with the first ready one moved to the front (or a
// single stand-in when the whole list is down), Master is its first node, and
// neither allocates: Master runs once per slot of every KEYS, SCAN and
// DBSIZE.
func TestServingListsMasterFirst(t *testing.T) {
	tb := ring.Build([]ring.Event{
		{Kind: ring.EventJoin, Node: "a", Stamp: 1},
		{Kind: ring.EventJoin, Node: "b", Stamp: 2},
		{Kind: ring.EventJoin, Node: "c", Stamp: 3},
		{Kind: ring.EventJoin, Node: "d", Stamp: 4},
		{Kind: ring.EventJoin, Node: "e", Stamp: 5},
	})
	const slot = 0
	w := tb.Walk(nil, slot)
	for _, tc := range []struct {
		name          string
		down, syncing []string
		n             int
		want          []string
	}{
		{"all ready", nil, nil, 3, w[:3]},
		{"second ready", nil, w[:1], 3, []string{w[1], w[0], w[2]}},
		{"third ready", nil, w[:2], 3, []string{w[2], w[0], w[1]}},
		{"none ready", nil, w[:3], 3, w[:3]},
		{"first down", w[:1], w[1:2], 3, []string{w[2], w[1]}},
		{"list down", w[:3], nil, 3, w[3:4]},
		{"list down, stand-in syncing", w[:3], w[3:4], 3, w[3:4]},
		{"N=0", w[:1], w[1:2], 0, w[1:2]},
		{"everyone down", w, nil, 3, nil},
	} {
		topo := &Topology{Table: tb, Down: map[string]bool{}, Syncing: map[string]bool{}, N: tc.n}
		for _, id := range tc.down {
			topo.Down[id] = true
		}
		for _, id := range tc.syncing {
			topo.Syncing[id] = true
		}
		got := topo.Serving(nil, slot, "zz")
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: serving %v, want %v", tc.name, got, tc.want)
		}
		want := ""
		if len(tc.want) > 0 {
			want = tc.want[0]
		}
		if m := topo.Master(slot, "zz"); m != want {
			t.Errorf("%s: master %q, want %q", tc.name, m, want)
		}
		if a := testing.AllocsPerRun(10, func() { topo.Master(slot, "zz") }); a != 0 {
			t.Errorf("%s: Master allocates %v times", tc.name, a)
		}
	}
	// This node counts as healthy even when gossip marks it down.
	topo := &Topology{Table: tb, Down: map[string]bool{w[0]: true, w[1]: true}, N: 3}
	if got := topo.Serving(nil, slot, w[0]); !slices.Equal(got, []string{w[0], w[2]}) {
		t.Errorf("self marked down: serving %v", got)
	}
	// A one-node ring without a table is this node's alone.
	if m := (*Topology)(nil).Master(slot, "zz"); m != "zz" {
		t.Errorf("nil topology: master %q", m)
	}
	if m := (&Topology{Table: ring.Build(nil), N: 3}).Master(slot, "zz"); m != "zz" {
		t.Errorf("empty table: master %q", m)
	}
}
