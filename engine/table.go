package engine

import "math/rand/v2"

// entryTable is a cache shard's index from the 64-bit hash of a pebble key
// to its entry: open addressing with linear probing over one slot array.
//
// It replaces a Go map, whose lookup goes through the map's directory, one
// of its tables and a group's control word before it reaches the slot;
// with a cache much larger than the CPU's, most of those are cache misses,
// where indexing the slot array is one (two when a slot straddles a line).
// In profiles of pipelined SETs the map access was 5-8% of the CPU.
//
// A slot is empty when its entry's kr is nil: every entry holds at least
// its pebble key, which is never empty. Deletion shifts the slots after a
// hole back towards their home slot instead of leaving tombstones, so a
// probe always ends at the first empty slot.
type entryTable struct {
	slots []tableSlot // len a power of two, or 0 before the first set
	n     int         // occupied slots
}

type tableSlot struct {
	h uint64
	e cacheEntry
}

// minTableSlots is a table's size after its first set.
const minTableSlots = 64

func (t *entryTable) len() int { return t.n }

// home is where h's probe starts.
func (t *entryTable) home(h uint64) int { return int(h & uint64(len(t.slots)-1)) }

// find returns the slot holding h, or -1.
func (t *entryTable) find(h uint64) int {
	if len(t.slots) == 0 {
		return -1
	}
	mask := len(t.slots) - 1
	for i := t.home(h); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.e.kr == nil {
			return -1
		}
		if s.h == h {
			return i
		}
	}
}

// get returns h's entry.
func (t *entryTable) get(h uint64) (cacheEntry, bool) {
	if i := t.find(h); i >= 0 {
		return t.slots[i].e, true
	}
	return cacheEntry{}, false
}

// set makes e h's entry and returns the one it replaced, if any, in the
// same probe. e.kr must not be nil.
func (t *entryTable) set(h uint64, e cacheEntry) (old cacheEntry, replaced bool) {
	if len(t.slots) == 0 {
		t.grow()
	}
	mask := len(t.slots) - 1
	for i := t.home(h); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.h == h && s.e.kr != nil {
			old, s.e = s.e, e // an overwrite, the common SET: never a reason to grow
			return old, true
		}
		if s.e.kr == nil {
			if (t.n+1)*4 > len(t.slots)*3 { // over three quarters full
				t.grow()
				return t.set(h, e)
			}
			*s = tableSlot{h: h, e: e}
			t.n++
			return cacheEntry{}, false
		}
	}
}

// grow doubles the slot array (or makes the first) and places every entry
// again, all at once under the shard's lock: a shard of the default cache
// (1 MiB) holds some thousands of entries, a rehash of well under a
// millisecond.
func (t *entryTable) grow() {
	old := t.slots
	t.slots = make([]tableSlot, max(2*len(old), minTableSlots))
	t.n = 0
	for i := range old {
		if old[i].e.kr != nil {
			t.set(old[i].h, old[i].e)
		}
	}
}

// del removes h's entry, if any, and returns it.
func (t *entryTable) del(h uint64) (cacheEntry, bool) {
	i := t.find(h)
	if i < 0 {
		return cacheEntry{}, false
	}
	e := t.slots[i].e
	t.deleteAt(i)
	return e, true
}

// deleteAt empties slot i, then moves back into the hole each later slot of
// the run whose probe would otherwise no longer reach it, so that no probe
// meets an empty slot before its entry. Only slots from i on (cyclically)
// change.
func (t *entryTable) deleteAt(i int) {
	mask := len(t.slots) - 1
	hole := i
	for j := (i + 1) & mask; t.slots[j].e.kr != nil; j = (j + 1) & mask {
		// The entry at j may fill the hole unless its home lies
		// cyclically in (hole, j]: then its probe starts after the hole.
		home := t.home(t.slots[j].h)
		if (j-home)&mask >= (j-hole)&mask {
			t.slots[hole] = t.slots[j]
			hole = j
		}
	}
	t.slots[hole] = tableSlot{}
	t.n--
}

// filter calls keep for every entry and removes those it returns false
// for. An entry may be asked about twice (removals move entries), never
// skipped, so keep must give an entry the same answer each time.
func (t *entryTable) filter(keep func(h uint64, e cacheEntry) bool) {
	for i := 0; i < len(t.slots); {
		s := &t.slots[i]
		if s.e.kr != nil && !keep(s.h, s.e) {
			t.deleteAt(i) // another entry may now be at i: look again
			continue
		}
		i++
	}
}

// evict removes entries, starting at a random slot and going on from
// there, for as long as more (told each entry removed) asks for more.
func (t *entryTable) evict(more func(e cacheEntry) bool) {
	if t.n == 0 {
		return
	}
	mask := len(t.slots) - 1
	i := rand.IntN(len(t.slots))
	for t.n > 0 {
		s := &t.slots[i]
		if s.e.kr == nil {
			i = (i + 1) & mask
			continue
		}
		e := s.e
		t.deleteAt(i) // another entry may now be at i: it goes next
		if !more(e) {
			return
		}
	}
}

// clear removes every entry, keeping the slot array.
func (t *entryTable) clear() {
	clear(t.slots)
	t.n = 0
}
