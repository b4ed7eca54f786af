package ring

import (
	"slices"
	"testing"
)

func TestEmptyRing(t *testing.T) {
	for name, tb := range map[string]*Table{
		"Build(nil)":  Build(nil),
		"zero Table":  new(Table),
		"all left":    Build([]Event{{EventJoin, "a", 1}, {EventJoin, "b", 2}, {EventLeave, "b", 3}, {EventLeave, "a", 4}}),
		"only leaves": Build([]Event{{EventLeave, "a", 1}}),
	} {
		if got := tb.Members(); len(got) != 0 {
			t.Errorf("%s: Members() = %v", name, got)
		}
		if got := tb.Primary(7); got != "" {
			t.Errorf("%s: Primary(7) = %q, want \"\"", name, got)
		}
		dst := []string{"keep"}
		if got := tb.PreferenceList(dst, 7, 3); !slices.Equal(got, dst) {
			t.Errorf("%s: PreferenceList = %v", name, got)
		}
		if got := tb.Walk(dst, 7); !slices.Equal(got, dst) {
			t.Errorf("%s: Walk = %v", name, got)
		}
		if got := tb.Ranges(nil); len(got) != 0 {
			t.Errorf("%s: Ranges = %v", name, got)
		}
		if tb.Len() != 0 || tb.Has("a") {
			t.Errorf("%s: Len() = %d, Has(a) = %v", name, tb.Len(), tb.Has("a"))
		}
	}
}

func TestFirstJoinTakesEverySlot(t *testing.T) {
	tb := Build([]Event{{EventJoin, "a", 5}})
	want := []Range{{Start: 0, End: NumSlots - 1, Primary: "a"}}
	if got := tb.Ranges(nil); !slices.Equal(got, want) {
		t.Fatalf("Ranges = %v, want %v", got, want)
	}
	if got := tb.PreferenceList(nil, 100, 3); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("PreferenceList(n=3) on one node = %v", got)
	}
}

// TestBuildLogRules checks which events count. Each log must give the same
// table as the reference log; the epoch counts distinct valid events.
func TestBuildLogRules(t *testing.T) {
	ref := []Event{{EventJoin, "a", 1}, {EventJoin, "b", 2}, {EventJoin, "c", 3}}
	for _, tc := range []struct {
		name  string
		log   []Event
		epoch uint64
	}{
		{"reference", ref, 3},
		{"reversed", []Event{ref[2], ref[1], ref[0]}, 3},
		{"duplicates", []Event{ref[0], ref[1], ref[0], ref[2], ref[2]}, 3},
		{"second join of a member", append(slices.Clone(ref), Event{EventJoin, "b", 9}), 4},
		{"leave of an unknown node", append(slices.Clone(ref), Event{EventLeave, "z", 4}), 4},
		{"leave before the join", append(slices.Clone(ref), Event{EventLeave, "c", 0}), 4},
		{"invalid kind", append(slices.Clone(ref), Event{0, "d", 4}, Event{7, "e", 4}), 3},
		{"empty node", append(slices.Clone(ref), Event{EventJoin, "", 4}), 3},
	} {
		tb := Build(tc.log)
		want := Build(ref)
		want.epoch = tc.epoch
		if d := diffTables(tb, want); d != "" {
			t.Errorf("%s: %s", tc.name, d)
		}
	}
}

func TestLeaveAndRejoin(t *testing.T) {
	log := []Event{{EventJoin, "a", 1}, {EventJoin, "b", 2}, {EventLeave, "a", 3}}
	if got := Build(log).Members(); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("after a leaves: %v", got)
	}
	log = append(log, Event{EventJoin, "a", 4})
	tb := Build(log)
	if got := tb.Members(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("after a rejoins: %v", got)
	}
	checkTable(t, tb)
	// A leave and a join of one node at the same stamp: the join sorts first.
	same := Build([]Event{{EventJoin, "a", 1}, {EventLeave, "b", 2}, {EventJoin, "b", 2}})
	if got := same.Members(); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("join and leave at one stamp: %v", got)
	}
}

// TestBuildDoesNotModifyLog checks Build works on a copy.
func TestBuildDoesNotModifyLog(t *testing.T) {
	log := []Event{{EventJoin, "b", 2}, {EventJoin, "a", 1}, {EventJoin, "a", 1}}
	orig := slices.Clone(log)
	Build(log)
	if !slices.Equal(log, orig) {
		t.Fatalf("Build modified its log: %v, was %v", log, orig)
	}
}

// randomLog returns a log of joins and leaves of a pool of nodes with few
// distinct stamps, so many events are concurrent and ties are common.
func randomLog(t testing.TB, events, pool int) []Event {
	r := newRand(t)
	ids := nodeIDs(r, pool)
	log := make([]Event, events)
	for i := range log {
		k := EventJoin
		if r.IntN(4) == 0 {
			k = EventLeave
		}
		log[i] = Event{Kind: k, Node: ids[r.IntN(pool)], Stamp: uint64(r.IntN(events / 2))}
	}
	// Add a few duplicates: the log is a set.
	for range events / 10 {
		log = append(log, log[r.IntN(len(log))])
	}
	return log
}

// TestDeterminism checks that every permutation of a log gives an
// identical table.
func TestDeterminism(t *testing.T) {
	log := randomLog(t, 120, 24)
	want := Build(log)
	checkTable(t, want)
	r := newRand(t)
	for i := range 30 {
		perm := slices.Clone(log)
		r.Shuffle(len(perm), func(a, b int) { perm[a], perm[b] = perm[b], perm[a] })
		if d := diffTables(Build(perm), want); d != "" {
			t.Fatalf("permutation %d: %s", i, d)
		}
	}
}

// TestEpochGrows checks the epoch grows as the log grows by new events.
func TestEpochGrows(t *testing.T) {
	log := randomLog(t, 80, 10)
	var prev uint64
	for i := range log {
		e := Build(log[:i+1]).Epoch()
		if slices.Contains(log[:i], log[i]) {
			if e != prev {
				t.Fatalf("a duplicate event changed the epoch from %d to %d", prev, e)
			}
		} else if e != prev+1 {
			t.Fatalf("event %d (%v): epoch %d, want %d", i, log[i], e, prev+1)
		}
		prev = e
	}
}

// naivePreferenceList is the placement rule written plainly: the primary,
// then the members after it in sorted order, wrapping around.
func naivePreferenceList(tb *Table, slot uint16, n int) []string {
	ms := tb.Members()
	p := slices.Index(ms, tb.Primary(slot))
	var l []string
	for i := 0; i < n && i < len(ms); i++ {
		l = append(l, ms[(p+i)%len(ms)])
	}
	return l
}

func TestPreferenceListAndWalk(t *testing.T) {
	r := newRand(t)
	for _, size := range []int{1, 2, 3, 4, 7, 64} {
		tb := ringOf(nodeIDs(r, size))
		ms := tb.Members()
		for range 300 {
			slot := uint16(r.IntN(NumSlots))
			walk := tb.Walk([]string{"x"}, slot)[1:] // appends, keeping dst
			if !slices.Equal(slices.Sorted(slices.Values(walk)), ms) {
				t.Fatalf("%d nodes, slot %d: Walk %v is not a permutation of %v", size, slot, walk, ms)
			}
			if walk[0] != tb.Primary(slot) {
				t.Fatalf("%d nodes, slot %d: Walk starts at %s, primary is %s", size, slot, walk[0], tb.Primary(slot))
			}
			for n := -1; n <= size+2; n++ {
				got := tb.PreferenceList(nil, slot, n)
				want := naivePreferenceList(tb, slot, n)
				if !slices.Equal(got, want) || !slices.Equal(got, walk[:len(got)]) {
					t.Fatalf("%d nodes, slot %d: PreferenceList(n=%d) = %v, want %v, a prefix of Walk %v", size, slot, n, got, want, walk)
				}
			}
		}
		// A slot is taken modulo NumSlots.
		if tb.Primary(NumSlots+5) != tb.Primary(5) {
			t.Fatalf("Primary(NumSlots+5) != Primary(5)")
		}
	}
}

func TestPreferenceListDoesNotAllocate(t *testing.T) {
	tb := ringOf(nodeIDs(newRand(t), 64))
	dst := make([]string, 0, 64)
	slot := uint16(0)
	if n := testing.AllocsPerRun(100, func() {
		slot = (slot + 997) % NumSlots
		dst = tb.PreferenceList(dst[:0], slot, 3)
		dst = tb.Walk(dst[:0], slot)
	}); n != 0 {
		t.Errorf("PreferenceList and Walk allocate %v times per run", n)
	}
}

func TestMembersIsACopy(t *testing.T) {
	tb := Build([]Event{{EventJoin, "a", 1}, {EventJoin, "b", 2}})
	tb.Members()[0] = "z"
	if !tb.Has("a") || tb.Has("z") || tb.Primary(0) == "z" {
		t.Fatalf("changing Members() changed the table")
	}
}
