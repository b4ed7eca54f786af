package engine

import (
	"sync/atomic"

	"github.com/ringstore/ringstore/ring"
	"github.com/ringstore/ringstore/version"
)

// Key counts.
//
// DBSIZE, INFO's keyspace line and CLUSTER COUNTKEYSINSLOT need the number
// of visible keys, which Redis keeps as a counter and a scan would pay for
// with a decode of every record (about half a second per 200,000 keys).
// Whether a record is visible depends on the time only through expiry, so the
// store counts, per database and slot, the records whose last writer is a
// value (present), and among them those whose value has an expiry time
// (expiring). A slot with no expiring record has exactly `present` visible
// keys at any time; only slots with expiring records need a scan, and only
// those records' slots. The counts are kept under the key's lock wherever a
// record changes, and rebuilt from every record at Open.

// recordClass is what a record contributes to the key counts: one of
// classAbsent, classPresent and classExpiring, with classMortal set or not.
type recordClass uint8

const (
	classAbsent   recordClass = iota // no record, or its last writer is a delete
	classPresent                     // a value without expiry: visible until written again
	classExpiring                    // a value with an expiry time: visible until then

	// classMortal flags a record that holds a tombstone or a value with an
	// expiry time, in any version: one the expiry walk may one day rewrite
	// or remove. Records of no other kind ever need it (every version of
	// theirs is live for good), so the walk passes over the slots of a
	// database that hold none (nextMortal).
	classMortal recordClass = 1 << 2
)

// visibility is c without classMortal.
func (c recordClass) visibility() recordClass { return c &^ classMortal }

// classify returns sib's class: the class of its last writer, which is what
// Siblings.Visible looks at, and whether any version is mortal.
func classify(sib version.Siblings) recordClass {
	if len(sib) == 0 {
		return classAbsent
	}
	var mortal recordClass
	for i := range sib {
		mortal |= classifyVersion(&sib[i]) & classMortal
	}
	v, _ := sib.Latest()
	return classifyVersion(&v) | mortal
}

// classifyVersion is classify of a set of the one version v.
func classifyVersion(v *version.Version) recordClass {
	switch {
	case v.Tombstone:
		return classAbsent | classMortal
	case v.ExpireAt != 0:
		return classExpiring | classMortal
	}
	return classPresent
}

// slotTally is one slot's counts.
type slotTally struct {
	present  atomic.Int64 // records of class classPresent or classExpiring
	expiring atomic.Int64 // records of class classExpiring
	mortal   atomic.Int64 // records with classMortal
}

type slotTallies [ring.NumSlots]slotTally

// keyCounts holds the counts of every database. A database's table is
// allocated on its first record, so that 256 configured databases do not
// cost 256 tables.
type keyCounts struct {
	dbs []atomic.Pointer[slotTallies] // one per database
	// broken is set when a bulk deletion failed part way: the counts no
	// longer match the records, and SlotKeys says so until the next Open.
	broken atomic.Bool
}

func (k *keyCounts) table(db int) *slotTallies {
	if t := k.dbs[db].Load(); t != nil {
		return t
	}
	k.dbs[db].CompareAndSwap(nil, new(slotTallies))
	return k.dbs[db].Load()
}

// move records that a record of db in slot went from class from to class to.
func (k *keyCounts) move(db int, slot uint16, from, to recordClass) {
	if from == to || db >= len(k.dbs) {
		// A database past Config.Databases holds records a larger setting
		// left, which no client reaches: only the expiry walk of a store
		// whose counts are broken visits them, and nothing counts them.
		return
	}
	c := &k.table(db)[slot]
	if fm, tm := from&classMortal != 0, to&classMortal != 0; fm != tm {
		if tm {
			c.mortal.Add(1)
		} else {
			c.mortal.Add(-1)
		}
	}
	if from, to = from.visibility(), to.visibility(); from == to {
		return
	}
	// An expiring record is counted in expiring before present and leaves
	// present first, so that a reader who sees no expiring record (and then
	// trusts present, reading it second) does not count one that may have
	// expired; present moves only when the record comes or goes, so that a
	// reader never sees it counted twice.
	if to == classExpiring {
		c.expiring.Add(1)
	}
	switch {
	case from == classAbsent:
		c.present.Add(1)
	case to == classAbsent:
		c.present.Add(-1)
	}
	if from == classExpiring {
		c.expiring.Add(-1)
	}
}

// reset forgets the counts of db (after every record of db was deleted).
func (k *keyCounts) reset(db int) { k.dbs[db].Store(nil) }

// resetSlot forgets the counts of slot in every db (after every record of
// the slot was deleted).
func (k *keyCounts) resetSlot(slot uint16) {
	for db := range k.dbs {
		if t := k.dbs[db].Load(); t != nil {
			t[slot].present.Store(0)
			t[slot].expiring.Store(0)
			t[slot].mortal.Store(0)
		}
	}
}

// nextMortal returns the first slot and database, from slot and db on in
// key order (slot, then database), holding a mortal record, and false if
// none does. A database past the counted ones (records left by a larger
// Config.Databases, which no client can reach) counts as holding none.
func (k *keyCounts) nextMortal(slot uint16, db int) (uint16, int, bool) {
	// The tables of the databases that have any, looked up once.
	type table struct {
		db int
		t  *slotTallies
	}
	var tables []table
	for d := range k.dbs {
		if t := k.dbs[d].Load(); t != nil {
			tables = append(tables, table{d, t})
		}
	}
	for s := int(slot); s < ring.NumSlots; s++ {
		for _, t := range tables {
			if t.db >= db && t.t[s].mortal.Load() > 0 {
				return uint16(s), t.db, true
			}
		}
		db = 0
	}
	return 0, 0, false
}

// SlotKeys returns how many records of db in slot have a value as their last
// writer (present), and how many of those values have an expiry time
// (expiring). When expiring is 0, present is the slot's number of visible
// keys at any time; otherwise the expiring ones must be looked at. ok is
// false when the counts cannot be trusted (a FLUSHDB failed part way): the
// caller must scan.
func (s *Store) SlotKeys(db int, slot uint16) (present, expiring int64, ok bool) {
	if db < 0 || db >= len(s.counts.dbs) || int(slot) >= ring.NumSlots || s.counts.broken.Load() {
		return 0, 0, false
	}
	t := s.counts.dbs[db].Load()
	if t == nil {
		return 0, 0, true
	}
	c := &t[slot]
	expiring = c.expiring.Load() // first: see move
	return c.present.Load(), expiring, true
}
