package ring

import (
	"cmp"
	"slices"
	"strings"
)

// builder replays a canonical membership log into a slot table. It is the
// only mutable thing in the package, and it never escapes Build.
type builder struct {
	ids    []string         // node number -> ID, numbered in order of first appearance
	num    map[string]int32 // ID -> node number
	member []bool           // by node number: in the ring now
	owned  []int            // by node number: primary slots held now
	runs   []run            // the table as maximal runs of one owner, in slot order; nil when the ring is empty
	recv   []int32          // scratch for receivers
}

// run is a maximal range of consecutive slots with the same primary.
type run struct {
	start, n int
	owner    int32 // node number
}

func newBuilder() *builder {
	return &builder{num: make(map[string]int32)}
}

// node returns the node number of id, assigning the next one if id is new.
func (b *builder) node(id string) int32 {
	if x, ok := b.num[id]; ok {
		return x
	}
	x := int32(len(b.ids))
	b.num[id] = x
	b.ids = append(b.ids, id)
	b.member = append(b.member, false)
	b.owned = append(b.owned, 0)
	return x
}

// apply replays one event. A Join of a member or a Leave of a non-member
// changes nothing and reports false.
func (b *builder) apply(e Event) bool {
	x := b.node(e.Node)
	switch {
	case e.Kind == EventJoin && !b.member[x]:
		b.member[x] = true
		if b.runs == nil {
			b.runs = []run{{start: 0, n: NumSlots, owner: x}}
			b.owned[x] = NumSlots
			return true
		}
	case e.Kind == EventLeave && b.member[x]:
		b.member[x] = false
		if b.members() == 0 {
			b.runs = nil
			b.owned[x] = 0
			return true
		}
	default:
		return false
	}
	b.rebalance()
	return true
}

func (b *builder) members() int {
	n := 0
	for _, m := range b.member {
		if m {
			n++
		}
	}
	return n
}

// targets returns how many primary slots each node should hold: 0 for a
// non-member, and floor or ceil of NumSlots/members for a member. The
// NumSlots%members ceilings go to the members holding the most slots now
// (ties to the smaller ID), which makes the number of slots that must move
// as small as it can be: on a join the newcomer takes the floor, and on a
// leave the members with the fewest slots are topped up first.
func (b *builder) targets() []int {
	var ms []int32
	for x, m := range b.member {
		if m {
			ms = append(ms, int32(x))
		}
	}
	slices.SortFunc(ms, func(x, y int32) int {
		if c := cmp.Compare(b.owned[y], b.owned[x]); c != 0 {
			return c
		}
		return strings.Compare(b.ids[x], b.ids[y])
	})
	t := make([]int, len(b.ids))
	q, r := NumSlots/len(ms), NumSlots%len(ms)
	for i, x := range ms {
		t[x] = q
		if i < r {
			t[x]++
		}
	}
	return t
}

// move is a transfer of slots from one run to another owner.
type move struct {
	run   int   // index into b.runs
	side  side  // which part of the run moves
	to    int32 // receiving node
	n     int   // slots moved
	delta int   // change in the number of runs
	pair  bool  // a split next to another donor's run, which can then extend the new run
	rest  int   // slots the split leaves behind
}

// side says which part of a run a move takes.
type side uint8

const (
	whole side = iota
	head
	tail
)

// better reports whether m is preferred to o: fewer resulting runs first,
// then a split that another donor can extend, then more slots at once, then
// a split that leaves less of the run behind (a small remainder is more
// likely to be handed over whole later). Ties keep the earlier run, because
// candidates are scanned in slot order.
func (m move) better(o move) bool {
	if m.delta != o.delta {
		return m.delta < o.delta
	}
	if m.pair != o.pair {
		return m.pair
	}
	if m.n != o.n {
		return m.n > o.n
	}
	return m.rest < o.rest
}

// rebalance moves slots from nodes above their target to nodes below it
// until every node holds its target. Only surplus moves, so the number of
// slots that change primary is the minimum: on a join, exactly what the
// newcomer takes, from every member in proportion; on a leave, exactly the
// leaver's slots. Which slots move is chosen greedily to keep the table in
// few runs: give a run whole to an owner next to it (the runs merge), grow a
// neighbouring run of the receiver, hand over a whole run, and only then
// split a run, preferably next to another donor so that the new run can grow.
func (b *builder) rebalance() {
	t := b.targets()
	excess := make([]int, len(b.ids)) // > 0: surplus to give; < 0: room to receive
	for x := range excess {
		excess[x] = b.owned[x] - t[x]
	}
	for {
		m, ok := b.bestMove(excess)
		if !ok {
			return
		}
		from := b.runs[m.run].owner
		b.transfer(m)
		b.owned[from] -= m.n
		b.owned[m.to] += m.n
		excess[from] -= m.n
		excess[m.to] += m.n
	}
}

// bestMove returns the best move of surplus slots, or false when no node has
// any surplus left.
func (b *builder) bestMove(excess []int) (move, bool) {
	var best move
	found := false
	consider := func(m move) {
		if !found || m.better(best) {
			best, found = m, true
		}
	}
	recv := b.receivers(excess)
	if len(recv) == 0 {
		return best, false
	}
	for i, r := range b.runs {
		s := excess[r.owner]
		if s <= 0 {
			continue
		}
		left, right := int32(-1), int32(-1)
		if i > 0 {
			left = b.runs[i-1].owner
		}
		if i+1 < len(b.runs) {
			right = b.runs[i+1].owner
		}
		// Grow a neighbouring run of a receiver, or merge into it.
		for _, z := range [2]int32{left, right} {
			if z < 0 || excess[z] >= 0 {
				continue
			}
			n := min(s, -excess[z], r.n)
			switch {
			case n < r.n && z == left:
				consider(move{run: i, side: head, to: z, n: n})
			case n < r.n:
				consider(move{run: i, side: tail, to: z, n: n})
			case left == right:
				consider(move{run: i, side: whole, to: z, n: n, delta: -2})
			default:
				consider(move{run: i, side: whole, to: z, n: n, delta: -1})
			}
		}
		// Hand the run over whole, if a receiver has room for it.
		if r.n <= s {
			if z := firstWithRoom(recv, excess, r.n); z >= 0 {
				consider(move{run: i, side: whole, to: z, n: r.n})
				continue // splitting this run instead could only be worse
			}
		}
		// Split the run, giving its end (or its start, when that lies next
		// to another donor) to the receiver with the fewest slots.
		z := recv[0]
		n := min(s, -excess[z], r.n-1)
		if n == 0 {
			continue // a one-slot run goes whole, above
		}
		m := move{run: i, side: tail, to: z, n: n, delta: 1, rest: r.n - n}
		switch {
		case right >= 0 && excess[right] > 0:
			m.pair = true
		case left >= 0 && excess[left] > 0:
			m.side, m.pair = head, true
		}
		consider(m)
	}
	return best, found
}

// receivers returns the nodes with room for more slots, fewest slots first
// (ties to the smaller ID). The slice is reused by the next call.
func (b *builder) receivers(excess []int) []int32 {
	zs := b.recv[:0]
	for x, e := range excess {
		if e < 0 {
			zs = append(zs, int32(x))
		}
	}
	slices.SortFunc(zs, b.compareLoad)
	b.recv = zs
	return zs
}

// firstWithRoom returns the first of zs with room for n more slots, or -1.
func firstWithRoom(zs []int32, excess []int, n int) int32 {
	for _, z := range zs {
		if -excess[z] >= n {
			return z
		}
	}
	return -1
}

// compareLoad orders nodes by the slots they hold, fewest first, ties to
// the smaller ID.
func (b *builder) compareLoad(x, y int32) int {
	if c := cmp.Compare(b.owned[x], b.owned[y]); c != 0 {
		return c
	}
	return strings.Compare(b.ids[x], b.ids[y])
}

// transfer applies m to b.runs, keeping the runs maximal.
func (b *builder) transfer(m move) {
	i := m.run
	r := &b.runs[i]
	switch m.side {
	case whole:
		r.owner = m.to
		if i+1 < len(b.runs) && b.runs[i+1].owner == m.to {
			r.n += b.runs[i+1].n
			b.runs = slices.Delete(b.runs, i+1, i+2)
		}
		if i > 0 && b.runs[i-1].owner == m.to {
			b.runs[i-1].n += b.runs[i].n
			b.runs = slices.Delete(b.runs, i, i+1)
		}
	case head:
		start := r.start
		r.start += m.n
		r.n -= m.n
		if i > 0 && b.runs[i-1].owner == m.to {
			b.runs[i-1].n += m.n
		} else {
			b.runs = slices.Insert(b.runs, i, run{start: start, n: m.n, owner: m.to})
		}
	case tail:
		r.n -= m.n
		start := r.start + r.n
		if i+1 < len(b.runs) && b.runs[i+1].owner == m.to {
			b.runs[i+1].start = start
			b.runs[i+1].n += m.n
		} else {
			b.runs = slices.Insert(b.runs, i+1, run{start: start, n: m.n, owner: m.to})
		}
	}
}
