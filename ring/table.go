package ring

import (
	"slices"
)

// Table is the slot table derived from a membership log: for every slot, its
// primary, and through the member ring its preference list and fallback
// order. A Table never changes after Build, so it is safe for concurrent use;
// when membership changes, build a new one and swap it in. The zero Table is
// an empty ring.
type Table struct {
	members []string         // the member ring: node IDs, sorted
	primary [NumSlots]uint32 // slot -> index into members of its primary
	ranges  []Range          // maximal runs of slots with the same primary, in slot order
	epoch   uint64
}

// Range is a maximal range of consecutive slots with the same primary, and
// therefore the same preference list and walk order: one entry of CLUSTER
// SLOTS.
type Range struct {
	Start, End uint16 // inclusive, as in CLUSTER SLOTS
	Primary    string
}

// Build replays the membership log and returns the resulting table.
//
// The log is treated as a set: Build sorts a copy canonically (by Stamp, then
// Node, then Kind) and drops duplicates, so nodes that learned of concurrent
// events in different orders compute identical tables. Events with an invalid
// Kind or an empty Node are ignored, as are a Join of a node already in the
// ring and a Leave of a node not in it. Build does not modify or retain log.
//
// The first Join takes every slot. Each later Join takes slots from every
// member until all members hold floor or ceil of NumSlots/members; a Leave
// hands the leaver's slots to the remaining members. See the package
// documentation for the placement rules and their guarantees.
func Build(log []Event) *Table {
	evs := canonical(log)
	b := newBuilder()
	for _, e := range evs {
		b.apply(e)
	}
	return b.table(uint64(len(evs)))
}

// table snapshots the builder's state.
func (b *builder) table(epoch uint64) *Table {
	t := &Table{epoch: epoch}
	for x, m := range b.member {
		if m {
			t.members = append(t.members, b.ids[x])
		}
	}
	slices.Sort(t.members)
	pos := make([]uint32, len(b.ids)) // node number -> index into t.members
	for i, id := range t.members {
		pos[b.num[id]] = uint32(i)
	}
	t.ranges = make([]Range, 0, len(b.runs))
	for _, r := range b.runs {
		p := pos[r.owner]
		for s := r.start; s < r.start+r.n; s++ {
			t.primary[s] = p
		}
		t.ranges = append(t.ranges, Range{Start: uint16(r.start), End: uint16(r.start + r.n - 1), Primary: t.members[p]})
	}
	return t
}

// Epoch returns the number of distinct valid events in the log the table was
// built from. The log only grows, and any change to the table needs a new
// event, so the epoch grows whenever the table changes (and sometimes when it
// does not, for an event that was ignored). Tables built from the same event
// set have the same epoch.
func (t *Table) Epoch() uint64 { return t.epoch }

// Len returns the number of members.
func (t *Table) Len() int { return len(t.members) }

// Members returns the IDs of the nodes in the ring, sorted. The slice is a
// fresh copy that the caller owns.
func (t *Table) Members() []string { return slices.Clone(t.members) }

// Has reports whether node is in the ring.
func (t *Table) Has(node string) bool {
	_, ok := slices.BinarySearch(t.members, node)
	return ok
}

// Primary returns the primary of slot (taken modulo NumSlots), or "" for an
// empty ring.
func (t *Table) Primary(slot uint16) string {
	if len(t.members) == 0 {
		return ""
	}
	return t.members[t.primary[slot&(NumSlots-1)]]
}

// PreferenceList appends to dst the first n distinct nodes responsible for
// slot (taken modulo NumSlots), primary first, and returns the extended
// slice. n is clamped to the number of members; an empty ring or n <= 0
// appends nothing. The nodes are the first n of Walk. PreferenceList is O(n)
// and does not allocate when dst has room for n more.
func (t *Table) PreferenceList(dst []string, slot uint16, n int) []string {
	m := len(t.members)
	n = min(n, m)
	if n <= 0 {
		return dst
	}
	p := int(t.primary[slot&(NumSlots-1)])
	for range n {
		dst = append(dst, t.members[p])
		if p++; p == m {
			p = 0
		}
	}
	return dst
}

// Walk appends to dst every member, in the order slot (taken modulo NumSlots)
// falls back to them, and returns the extended slice: the preference list
// first, then the nodes a sloppy quorum uses next, nearest first, which
// together are the whole ring. Callers skip the nodes that are down. It does
// not allocate when dst has room for Len more.
func (t *Table) Walk(dst []string, slot uint16) []string {
	return t.PreferenceList(dst, slot, len(t.members))
}

// Ranges appends to dst the table's ranges in slot order, and returns the
// extended slice. They cover every slot exactly once, unless the ring is
// empty, when there are none.
func (t *Table) Ranges(dst []Range) []Range { return append(dst, t.ranges...) }
