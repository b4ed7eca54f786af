package version

import (
	"slices"
	"strconv"
	"strings"
)

// MaxClockEntries is the number of nodes a clock remembers before truncation.
const MaxClockEntries = 10

// Entry is one node's counter in a clock. Stamp is the HLC time of the node's
// latest increment; truncation drops the entry with the oldest Stamp.
type Entry struct {
	Node    string
	Counter uint64
	Stamp   HLC
}

// Clock is a vector clock: entries sorted by Node, one per node, counters > 0.
// A Clock value is never modified in place by this package; methods return new
// clocks, so clocks may be shared between versions and goroutines.
type Clock []Entry

// Order is how two clocks relate.
type Order int

const (
	Equal      Order = iota // the same history
	Before                  // a happened before b: b descends from a
	After                   // a descends from b
	Concurrent              // neither descends from the other
)

func (o Order) String() string {
	switch o {
	case Equal:
		return "equal"
	case Before:
		return "before"
	case After:
		return "after"
	default:
		return "concurrent"
	}
}

// Compare relates two clocks.
func Compare(a, b Clock) Order {
	aBigger, bBigger := false, false
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j >= len(b) || (i < len(a) && a[i].Node < b[j].Node):
			aBigger = true
			i++
		case i >= len(a) || b[j].Node < a[i].Node:
			bBigger = true
			j++
		default:
			if a[i].Counter > b[j].Counter {
				aBigger = true
			} else if a[i].Counter < b[j].Counter {
				bBigger = true
			}
			i++
			j++
		}
		if aBigger && bBigger {
			return Concurrent
		}
	}
	switch {
	case aBigger:
		return After
	case bBigger:
		return Before
	}
	return Equal
}

// String formats c as "[node=counter@stamp ...]", for tests and logs.
func (c Clock) String() string {
	var b strings.Builder
	b.WriteByte('[')
	for i, e := range c {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(e.Node)
		b.WriteByte('=')
		b.WriteString(strconv.FormatUint(e.Counter, 10))
		b.WriteByte('@')
		b.WriteString(strconv.FormatUint(uint64(e.Stamp), 10))
	}
	b.WriteByte(']')
	return b.String()
}

// Descends reports whether c has seen everything o has (c == o or c after o).
func (c Clock) Descends(o Clock) bool {
	r := Compare(c, o)
	return r == Equal || r == After
}

// Counter returns node's counter in c (0 when absent).
func (c Clock) Counter(node string) uint64 {
	if i, ok := c.find(node); ok {
		return c[i].Counter
	}
	return 0
}

// find returns where node's entry is in c, or would be, and whether it is
// there. A binary search written out rather than slices.BinarySearchFunc
// with strings.Compare, which escape analysis cannot see through: it made
// every clock searched look as if it escaped, so AppendSuccessor's clock,
// built on the stack, moved to the heap.
func (c Clock) find(node string) (int, bool) {
	lo, hi := 0, len(c)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if c[m].Node < node {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(c) && c[lo].Node == node
}

// Merge returns the least clock that descends from both c and o: the
// pointwise maximum, keeping the newer Stamp of each node.
func (c Clock) Merge(o Clock) Clock {
	out := make(Clock, 0, max(len(c), len(o)))
	i, j := 0, 0
	for i < len(c) || j < len(o) {
		switch {
		case j >= len(o) || (i < len(c) && c[i].Node < o[j].Node):
			out = append(out, c[i])
			i++
		case i >= len(c) || o[j].Node < c[i].Node:
			out = append(out, o[j])
			j++
		default:
			e := c[i]
			if o[j].Counter > e.Counter {
				e.Counter = o[j].Counter
			}
			if o[j].Stamp > e.Stamp {
				e.Stamp = o[j].Stamp
			}
			out = append(out, e)
			i++
			j++
		}
	}
	return out
}

// Increment returns a copy of c with node's counter raised by one and stamped
// at, truncated to MaxClockEntries (never dropping node itself).
func (c Clock) Increment(node string, at HLC) Clock {
	out := make(Clock, len(c)+1)
	return out[:c.incrementInto(out, node, at)].truncate(MaxClockEntries, node)
}

// incrementInto writes c with node's counter raised by one and stamped at
// into out, which has room for len(c)+1 entries, and returns how many it
// wrote: Increment before truncation.
func (c Clock) incrementInto(out []Entry, node string, at HLC) int {
	i, ok := c.find(node)
	n := copy(out, c[:i])
	if ok {
		out[n] = Entry{Node: node, Counter: c[i].Counter + 1, Stamp: max(at, c[i].Stamp)}
		i++
	} else {
		out[n] = Entry{Node: node, Counter: 1, Stamp: at}
	}
	n++
	return n + copy(out[n:], c[i:])
}

// truncate drops the least recently stamped entries (ties: smallest node ID)
// until at most limit remain, never dropping keep. It works in place: c must
// be a fresh clock owned by the caller.
func (c Clock) truncate(limit int, keep string) Clock {
	for len(c) > limit {
		victim := -1
		for i, e := range c {
			if e.Node == keep {
				continue
			}
			if victim < 0 || e.Stamp < c[victim].Stamp || (e.Stamp == c[victim].Stamp && e.Node < c[victim].Node) {
				victim = i
			}
		}
		c = slices.Delete(c, victim, victim+1)
	}
	return c
}

// Valid reports whether c is well formed: sorted by node, no duplicates, no
// zero counters, no empty node IDs, and at most MaxClockEntries entries.
func (c Clock) Valid() bool {
	return len(c) <= MaxClockEntries && c.wellFormed()
}

// wellFormed is Valid without the size limit: the merge of several clocks
// (Siblings.Clock, a context token) may exceed MaxClockEntries.
func (c Clock) wellFormed() bool {
	for i, e := range c {
		if e.Node == "" || e.Counter == 0 {
			return false
		}
		if i > 0 && c[i-1].Node >= e.Node {
			return false
		}
	}
	return true
}

// compareClockBytes is a total order on clocks used only to break ties
// deterministically; it has no causal meaning.
func compareClockBytes(a, b Clock) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := strings.Compare(a[i].Node, b[i].Node); c != 0 {
			return c
		}
		if a[i].Counter != b[i].Counter {
			if a[i].Counter < b[i].Counter {
				return -1
			}
			return 1
		}
		if a[i].Stamp != b[i].Stamp {
			if a[i].Stamp < b[i].Stamp {
				return -1
			}
			return 1
		}
	}
	return len(a) - len(b)
}
