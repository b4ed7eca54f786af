package engine

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/ringstore/ringstore/ring"
)

// DropSlots removes every record of the given slots, in every database,
// with range deletions in one synced batch, and returns how many records
// it removed (as counted just before the deletion: a write that lands in
// a dropped slot between the count and the deletion is removed but not
// counted). It is for a node that no longer holds those slots (the range
// transfer's purge): their data lives on the nodes that hold them now.
// Hints and metadata stay. Slots may be in any order and repeat; a slot
// out of range is an error and nothing is dropped.
//
// Merges wait until it is done, as for FlushDB, so none straddles it. The
// record cache loses exactly the dropped slots' entries and keeps its
// completeness: pebble holds no record of those slots any more.
func (s *Store) DropSlots(slots []uint16) (int64, error) {
	var drop [ring.NumSlots]bool
	n := 0
	for _, slot := range slots {
		if slot >= ring.NumSlots {
			return 0, fmt.Errorf("engine: drop slots: slot %d out of range [0, %d)", slot, ring.NumSlots)
		}
		if !drop[slot] {
			drop[slot] = true
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	if !s.gate.enter() {
		return 0, ErrClosed
	}
	defer s.gate.exit()
	// Count outside the locks: a count is O(records dropped), and
	// foreground writes should not wait for it.
	records, err := s.countSlots(&drop)
	if err != nil {
		return 0, fmt.Errorf("engine: drop slots: %w", err)
	}
	s.lockAll()
	defer s.unlockAll()
	err = s.deleteSlots(&drop)
	if err != nil {
		// Some of it may have applied: forget everything, which ends
		// completeness, as FlushDB does; the key counts and digests no
		// longer match either.
		s.cache.clear()
		s.counts.broken.Store(true)
		s.digests.broken.Store(true)
		return 0, fmt.Errorf("engine: drop %d slots: %w", n, err)
	}
	s.cache.dropSlots(&drop)
	for slot, dropped := range drop {
		if dropped {
			s.counts.resetSlot(uint16(slot))
			s.digests.slots[slot].Store(0)
		}
	}
	s.stats.slotsDropped.Add(uint64(n))
	s.stats.recordsDropped.Add(uint64(records))
	s.compactAfterFlush()
	return records, nil
}

// slotRun is a run of slots [from, to) whose records one range deletion
// removes.
type slotRun struct{ from, to int }

// dataSlotBound returns the first pebble key of slot (slot may be
// ring.NumSlots: the end of the data namespace).
func dataSlotBound(slot int) []byte {
	if slot >= ring.NumSlots {
		return []byte{nsData + 1}
	}
	return appendSlotPrefix(nil, uint16(slot))
}

// countSlots counts the records of the slots marked in drop.
func (s *Store) countSlots(drop *[ring.NumSlots]bool) (int64, error) {
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{nsData}, UpperBound: []byte{nsData + 1}})
	if err != nil {
		return 0, err
	}
	var n int64
	for _, r := range dropRuns(drop, func(int) bool { return false }) {
		end := dataSlotBound(r.to)
		for ok := iter.SeekGE(dataSlotBound(r.from)); ok && bytes.Compare(iter.Key(), end) < 0; ok = iter.Next() {
			n++
		}
	}
	return n, errors.Join(iter.Error(), iter.Close())
}

// deleteSlots deletes the records of the slots marked in drop, synced. s
// must be locked (lockAll), so that which kept slots are empty cannot
// change: a run of dropped slots extends over kept slots that hold no
// record, which keeps the number of range tombstones (each taxes reads
// until compaction removes it, see FlushDB) at the number of runs that
// records of kept slots separate.
func (s *Store) deleteSlots(drop *[ring.NumSlots]bool) error {
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{nsData}, UpperBound: []byte{nsData + 1}})
	if err != nil {
		return err
	}
	empty := func(slot int) bool {
		p := dataSlotBound(slot)
		return !iter.SeekGE(p) || !bytes.HasPrefix(iter.Key(), p)
	}
	runs := dropRuns(drop, empty)
	if err := errors.Join(iter.Error(), iter.Close()); err != nil {
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	for _, r := range runs {
		if err := b.DeleteRange(dataSlotBound(r.from), dataSlotBound(r.to), nil); err != nil {
			return err
		}
	}
	return b.Commit(pebble.Sync)
}

// dropRuns groups the slots marked in drop into runs; a run goes on over a
// kept slot for which bridge reports true (one known to hold nothing) when
// a dropped slot follows it. Each run starts and ends with a dropped slot.
func dropRuns(drop *[ring.NumSlots]bool, bridge func(slot int) bool) []slotRun {
	var runs []slotRun
	open := false
	for slot := range ring.NumSlots {
		switch {
		case drop[slot] && open:
			runs[len(runs)-1].to = slot + 1
		case drop[slot]:
			runs = append(runs, slotRun{from: slot, to: slot + 1})
			open = true
		case open && !bridge(slot):
			open = false
		}
	}
	return runs
}
