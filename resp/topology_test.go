package resp

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ringstore/ringstore/coordinator"
	"github.com/ringstore/ringstore/ring"
)

// fixedRing is a RingAdmin that always shows the same view.
type fixedRing struct{ v *RingView }

func (f fixedRing) View() *RingView               { return f.v }
func (fixedRing) Join([]string) error             { return nil }
func (fixedRing) Leave(ctx context.Context) error { return nil }
func (fixedRing) Forget(string) error             { return nil }

// randomView returns a random ring of size members (after some churn, so
// the tables are not all alike) with random down and syncing sets, seen
// from a random member or from a node outside the ring.
func randomView(rng *rand.Rand, size, n int) *RingView {
	extra := rng.IntN(3)
	var log []ring.Event
	ids := make([]string, size+extra)
	for i := range ids {
		ids[i] = fmt.Sprintf("node%02d", i)
	}
	rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	stamp := uint64(0)
	for _, id := range ids {
		stamp++
		log = append(log, ring.Event{Kind: ring.EventJoin, Node: id, Stamp: stamp})
	}
	for _, id := range ids[size:] { // the extra nodes leave again
		stamp++
		log = append(log, ring.Event{Kind: ring.EventLeave, Node: id, Stamp: stamp})
	}
	tb := ring.Build(log)
	members := tb.Members()
	topo := &coordinator.Topology{Table: tb, Down: map[string]bool{}, Syncing: map[string]bool{}, N: n}
	v := &RingView{Topology: topo, Members: map[string]RingMember{}}
	for i, id := range members {
		state := "up"
		if rng.IntN(10) < 3 {
			topo.Down[id] = true
			state = []string{"suspect", "down", "left"}[rng.IntN(3)]
		}
		if rng.IntN(10) < 4 {
			topo.Syncing[id] = true
		}
		v.Members[id] = RingMember{ID: id, RESPAddr: "10.0.0." + strconv.Itoa(i+1) + ":7000", PeerAddr: "10.0.0." + strconv.Itoa(i+1) + ":17000", State: state}
	}
	// Self is usually a member, which counts as healthy even when marked
	// down; sometimes a node outside the ring (joining, or left).
	v.Self = "outsider"
	if rng.IntN(5) > 0 {
		v.Self = members[rng.IntN(len(members))]
	}
	return v
}

// TestRedirectNeverPointsBack: with cluster redirects on, over random rings
// with random down and syncing members, a node answers MOVED only for a
// slot whose preference list leaves it out, naming another node's known
// address, which is the master CLUSTER SLOTS publishes: never itself (the
// stand-in for a preference list that is all down), which would send the
// client round in a loop.
func TestRedirectNeverPointsBack(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	moved, served := 0, 0
	for trial := range 60 {
		v := randomView(rng, 1+rng.IntN(6), 1+rng.IntN(3))
		if trial%4 == 0 {
			for id := range v.Members { // every other node down
				if id != v.Self {
					v.Topology.Down[id] = true
				}
			}
		}
		srv := &Server{cfg: Config{Ring: fixedRing{v}}}
		var sw Writer
		srv.cmdClusterSlots(context.Background(), nil, &sw, nil)
		masters := slotsMasters(t, sw.Bytes())
		for i := range 400 {
			key := []byte(fmt.Sprint("key", trial, ".", i))
			slot := ring.Slot(key)
			var w Writer
			if !srv.redirect(&w, key) {
				served++
				continue
			}
			moved++
			got := string(w.Bytes())
			want := "-MOVED " + strconv.Itoa(int(slot)) + " " + v.Members[masters[slot]].RESPAddr + "\r\n"
			if masters[slot] == v.Self || got != want {
				t.Fatalf("trial %d, self %s, down %v: key %q: %q, CLUSTER SLOTS master %q (want %q)", trial, v.Self, v.Topology.Down, key, got, masters[slot], want)
			}
		}
	}
	if moved == 0 || served == 0 {
		t.Fatalf("%d MOVED and %d served: the rings did not cover both cases", moved, served)
	}
}

// TestClusterMastersAreCoordinatorMasters: for every slot of random rings
// (1 to 6 members, N 0 to 3, random down and syncing members), the master
// that CLUSTER SLOTS and CLUSTER NODES publish is the node the coordinator's
// Master names, which is the one whose KEYS, SCAN and DBSIZE list the slot;
// a slot left out of CLUSTER SLOTS is one Master finds no node for. If the
// two ever disagree, a client scanning every published master counts keys
// twice or misses them.
func TestClusterMastersAreCoordinatorMasters(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	trials := 8
	if testing.Short() {
		trials = 2
	}
	for size := 1; size <= 6; size++ {
		for n := 0; n <= 3; n++ {
			for trial := range trials {
				v := randomView(rng, size, n)
				srv := &Server{cfg: Config{Ring: fixedRing{v}}}
				var w Writer
				srv.cmdClusterSlots(context.Background(), nil, &w, nil)
				lists := slotsNodes(t, w.Bytes())
				slots := slotsMasters(t, w.Bytes())
				nodes := nodesMasters(t, clusterNodesText(v))
				for slot := range uint16(ring.NumSlots) {
					checkSlotNodes(t, v, slot, lists[slot])
					want := v.Topology.Master(slot, v.Self)
					if slots[slot] != want || nodes[slot] != want {
						t.Fatalf("size %d, N %d, trial %d, self %s, down %v, syncing %v: slot %d: CLUSTER SLOTS master %q, CLUSTER NODES master %q, coordinator master %q",
							size, n, trial, v.Self, v.Topology.Down, v.Topology.Syncing, slot, slots[slot], nodes[slot], want)
					}
				}
			}
		}
	}
}

// checkSlotNodes checks a slot's CLUSTER SLOTS nodes against the ring's
// preference list, computed here from the table: when any node of the list
// is healthy (up, or this node), the entry lists exactly the healthy ones,
// each once; otherwise it lists one healthy stand-in from beyond the list,
// or nothing when no node is healthy.
func checkSlotNodes(t *testing.T, v *RingView, slot uint16, got []string) {
	t.Helper()
	healthy := func(id string) bool { return id == v.Self || !v.Topology.Down[id] }
	var want []string
	for _, id := range v.Topology.Table.PreferenceList(nil, slot, v.Topology.N) {
		if healthy(id) {
			want = append(want, id)
		}
	}
	if len(want) == 0 {
		if len(got) > 1 || (len(got) == 1 && !healthy(got[0])) {
			t.Fatalf("slot %d: preference list all down, CLUSTER SLOTS lists %v, want one healthy stand-in", slot, got)
		}
		return
	}
	if len(got) != len(want) {
		t.Fatalf("slot %d: CLUSTER SLOTS lists %v, want the healthy preference-list nodes %v", slot, got, want)
	}
	for _, id := range want {
		if !slices.Contains(got, id) {
			t.Fatalf("slot %d: CLUSTER SLOTS lists %v, want the healthy preference-list nodes %v", slot, got, want)
		}
	}
}

// slotsMasters parses a CLUSTER SLOTS reply into each slot's master ("" for
// a slot it leaves out), failing on a slot listed twice.
func slotsMasters(t *testing.T, reply []byte) []string {
	t.Helper()
	masters := make([]string, ring.NumSlots)
	for slot, ids := range slotsNodes(t, reply) {
		if len(ids) > 0 {
			masters[slot] = ids[0]
		}
	}
	return masters
}

// slotsNodes parses a CLUSTER SLOTS reply into each slot's nodes, master
// first (nil for a slot it leaves out), failing on a slot listed twice.
func slotsNodes(t *testing.T, reply []byte) [][]string {
	t.Helper()
	r := bufio.NewReader(bytes.NewReader(reply))
	line := func() string {
		s, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("CLUSTER SLOTS reply cut short: %q", reply)
		}
		return strings.TrimSuffix(s, "\r\n")
	}
	num := func(prefix string) int {
		s := line()
		if !strings.HasPrefix(s, prefix) {
			t.Fatalf("CLUSTER SLOTS: %q, want %s...", s, prefix)
		}
		x, err := strconv.Atoi(s[1:])
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	nodes := make([][]string, ring.NumSlots)
	for range num("*") {
		entries := num("*")
		start, end := num(":"), num(":")
		var ids []string
		for range entries - 2 {
			if num("*") != 4 {
				t.Fatal("CLUSTER SLOTS: node entry is not [ip, port, id, metadata]")
			}
			num("$")
			line()
			num(":")
			num("$")
			ids = append(ids, line())
			if num("*") != 0 {
				t.Fatal("CLUSTER SLOTS: node metadata is not empty")
			}
		}
		if len(ids) == 0 {
			t.Fatalf("CLUSTER SLOTS: range %d-%d has no nodes", start, end)
		}
		for s := start; s <= end; s++ {
			if nodes[s] != nil {
				t.Fatalf("CLUSTER SLOTS lists slot %d twice", s)
			}
			nodes[s] = ids
		}
	}
	return nodes
}

// nodesMasters parses CLUSTER NODES text into each slot's master, failing
// on a slot listed twice.
func nodesMasters(t *testing.T, text string) []string {
	t.Helper()
	masters := make([]string, ring.NumSlots)
	for l := range strings.Lines(text) {
		f := strings.Fields(l)
		if len(f) < 8 {
			t.Fatalf("CLUSTER NODES line %q", l)
		}
		for _, r := range f[8:] {
			lo, hi, ok := strings.Cut(r, "-")
			if !ok {
				hi = lo
			}
			start, err1 := strconv.Atoi(lo)
			end, err2 := strconv.Atoi(hi)
			if err1 != nil || err2 != nil {
				t.Fatalf("CLUSTER NODES slot range %q", r)
			}
			for s := start; s <= end; s++ {
				if masters[s] != "" {
					t.Fatalf("CLUSTER NODES lists slot %d twice", s)
				}
				masters[s] = f[0]
			}
		}
	}
	return masters
}
