package ring

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

var seedFlag = flag.Uint64("seed", 0, "seed for the randomized tests; 0 picks one")

// newRand returns a seeded generator and reports the seed if the test fails.
func newRand(t testing.TB) *rand.Rand {
	seed := *seedFlag
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("randomized with -seed=%d", seed)
		}
	})
	return rand.New(rand.NewPCG(seed, seed))
}

// nodeIDs returns n distinct random 40-hex node IDs.
func nodeIDs(r *rand.Rand, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%016x%016x%08x", r.Uint64(), r.Uint64(), r.Uint32())
	}
	return ids
}

// joins returns a log in which ids join one after another.
func joins(ids []string) []Event {
	evs := make([]Event, len(ids))
	for i, id := range ids {
		evs[i] = Event{Kind: EventJoin, Node: id, Stamp: uint64(i + 1)}
	}
	return evs
}

// replay applies the canonical form of log one event at a time and returns
// the table after each event, as Build would compute it for each prefix.
func replay(log []Event) []*Table {
	evs := canonical(log)
	b := newBuilder()
	tables := make([]*Table, len(evs))
	for i, e := range evs {
		b.apply(e)
		tables[i] = b.table(uint64(i + 1))
	}
	return tables
}

// ringOf returns the table after ids join one after another.
func ringOf(ids []string) *Table {
	return Build(joins(ids))
}

// owned returns each member's count of primary slots.
func owned(tb *Table) map[string]int {
	c := make(map[string]int)
	for _, m := range tb.members {
		c[m] = 0
	}
	for s := range NumSlots {
		c[tb.Primary(uint16(s))]++
	}
	return c
}

// memberships returns, for each member, the number of slots whose n-node
// preference list includes it.
func memberships(tb *Table, n int) map[string]int {
	c := make(map[string]int)
	var l []string
	for s := range NumSlots {
		l = tb.PreferenceList(l[:0], uint16(s), n)
		for _, m := range l {
			c[m]++
		}
	}
	return c
}

// listChanges returns how many (slot, node) memberships of the n-node
// preference lists are in after but not in before.
func listChanges(before, after *Table, n int) int {
	changes := 0
	var a, b []string
	for s := range NumSlots {
		a = before.PreferenceList(a[:0], uint16(s), n)
		b = after.PreferenceList(b[:0], uint16(s), n)
		for _, m := range b {
			if !slices.Contains(a, m) {
				changes++
			}
		}
	}
	return changes
}

// primaryMoves returns the number of slots whose primary differs.
func primaryMoves(before, after *Table) int {
	moved := 0
	for s := range NumSlots {
		if before.Primary(uint16(s)) != after.Primary(uint16(s)) {
			moved++
		}
	}
	return moved
}

// spread returns the largest, smallest and mean value of c.
func spread(c map[string]int) (hi, lo int, mean float64) {
	lo = -1
	sum := 0
	for _, v := range c {
		hi = max(hi, v)
		if lo < 0 || v < lo {
			lo = v
		}
		sum += v
	}
	return hi, lo, float64(sum) / float64(len(c))
}

// diffTables describes the first difference between two tables, or returns
// "" if they are identical.
func diffTables(a, b *Table) string {
	if !slices.Equal(a.members, b.members) {
		return fmt.Sprintf("members %v != %v", a.members, b.members)
	}
	if a.epoch != b.epoch {
		return fmt.Sprintf("epoch %d != %d", a.epoch, b.epoch)
	}
	for s := range NumSlots {
		if a.primary[s] != b.primary[s] {
			return fmt.Sprintf("slot %d: primary %s != %s", s, a.Primary(uint16(s)), b.Primary(uint16(s)))
		}
	}
	if !slices.Equal(a.ranges, b.ranges) {
		return fmt.Sprintf("ranges %v != %v", a.ranges, b.ranges)
	}
	return ""
}

// checkTable checks the invariants every table must meet, whatever its
// history: members sorted and distinct, primaries balanced to within one
// slot, and ranges that cover every slot, are maximal and agree with Primary.
func checkTable(t testing.TB, tb *Table) {
	t.Helper()
	if !slices.IsSorted(tb.members) || len(slices.Compact(slices.Clone(tb.members))) != len(tb.members) {
		t.Fatalf("members not sorted and distinct: %v", tb.members)
	}
	rs := tb.Ranges(nil)
	if len(tb.members) == 0 {
		if len(rs) != 0 {
			t.Fatalf("empty ring has ranges %v", rs)
		}
		return
	}
	if hi, lo, _ := spread(owned(tb)); hi-lo > 1 || lo < NumSlots/len(tb.members) {
		t.Fatalf("%d members hold between %d and %d slots", len(tb.members), lo, hi)
	}
	next := 0
	for i, r := range rs {
		if int(r.Start) != next || r.End < r.Start {
			t.Fatalf("range %d is %d-%d, want it to start at %d", i, r.Start, r.End, next)
		}
		if i > 0 && rs[i-1].Primary == r.Primary {
			t.Fatalf("ranges %d and %d have the same primary %s", i-1, i, r.Primary)
		}
		for s := r.Start; s <= r.End; s++ {
			if p := tb.Primary(s); p != r.Primary {
				t.Fatalf("slot %d: Primary = %s, range %d says %s", s, p, i, r.Primary)
			}
		}
		next = int(r.End) + 1
	}
	if next != NumSlots {
		t.Fatalf("ranges end at %d, want %d", next-1, NumSlots-1)
	}
}

// clone returns an independent copy of b, to try an event without replaying.
func (b *builder) clone() *builder {
	c := &builder{
		ids:    slices.Clone(b.ids),
		num:    make(map[string]int32, len(b.num)),
		member: slices.Clone(b.member),
		owned:  slices.Clone(b.owned),
		runs:   slices.Clone(b.runs),
	}
	for id, x := range b.num {
		c.num[id] = x
	}
	return c
}
