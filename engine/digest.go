package engine

import (
	"bytes"
	"fmt"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
	"github.com/cockroachdb/pebble/v2"

	"github.com/ringstore/ringstore/ring"
)

// Slot digests.
//
// Anti-entropy compares replicas slot by slot, so each store keeps, per
// slot, a digest of every record in it (all databases): the XOR of one
// 64-bit hash per record, of its pebble key and its record bytes. Record
// encodings are canonical (equal sibling sets encode to equal bytes), so
// two replicas holding the same versions of a slot have equal digests
// whatever order they received them in, and XOR lets a write update the
// digest in constant time: out goes the old record's hash, in the new
// one's. The hash is fixed (xxhash), not seeded per process, because
// digests are compared across nodes.

// recordHash is the digest contribution of the record rec stored under
// pebble key k; an absent record (nil) contributes nothing.
func recordHash(k, rec []byte) uint64 {
	if rec == nil {
		return 0
	}
	var d xxhash.Digest
	d.Reset()
	d.Write(k)
	d.Write(rec)
	h := d.Sum64()
	if h == 0 {
		h = 1 // 0 is reserved for "no record"
	}
	return h
}

// keyedRecordHash is recordHash(k, rec) of a record stored under k, given
// k followed by rec in one slice (nil: absent), as the record cache keeps
// them: one pass of xxhash over it instead of a streamed two.
func keyedRecordHash(kr []byte) uint64 {
	if kr == nil {
		return 0
	}
	h := xxhash.Sum64(kr)
	if h == 0 {
		h = 1
	}
	return h
}

// slotDigests holds the digest of every slot.
type slotDigests struct {
	slots [ring.NumSlots]atomic.Uint64
	// broken is set when a bulk deletion failed part way: the digests no
	// longer match the records until the next Open.
	broken atomic.Bool
}

// replace records that the record under pebble key k changed from old to
// new (nil: absent).
func (d *slotDigests) replace(k, old, new []byte) {
	d.apply(k, recordHash(k, old)^recordHash(k, new))
}

// replaceKeyed is replace given each record preceded by k (nil: absent).
func (d *slotDigests) replaceKeyed(k, oldKR, newKR []byte) {
	d.apply(k, keyedRecordHash(oldKR)^keyedRecordHash(newKR))
}

// apply XORs x into the digest of k's slot.
func (d *slotDigests) apply(k []byte, x uint64) {
	if x == 0 {
		return
	}
	// Writers of one slot hold different key locks, so the XOR must be
	// atomic.
	slot := &d.slots[dataKeySlot(k)]
	for {
		cur := slot.Load()
		if slot.CompareAndSwap(cur, cur^x) {
			return
		}
	}
}

// SlotDigests returns the digest of every slot from from to to (inclusive),
// and false when the digests cannot be trusted (a FLUSHDB failed part way;
// until the next Open). Equal digests mean, up to 64-bit hash collisions,
// that two stores hold the same records in the slot.
func (s *Store) SlotDigests(from, to uint16) ([]uint64, bool) {
	if from > to || int(to) >= ring.NumSlots {
		return nil, false
	}
	out := make([]uint64, int(to-from)+1)
	for i := range out {
		out[i] = s.digests.slots[int(from)+i].Load()
	}
	return out, !s.digests.broken.Load()
}

// ScanSlotDigests calls fn with the database, key and digest contribution
// of every record of slot, of every database, in (db, key) order, starting
// after (afterDB, after) when after is not nil, until fn returns false. It
// reads a snapshot taken when it starts. The key is fn's to keep.
func (s *Store) ScanSlotDigests(slot uint16, afterDB int, after []byte, fn func(db int, key []byte, hash uint64) bool) error {
	if slot >= ring.NumSlots {
		return fmt.Errorf("engine: slot %d out of range [0, %d)", slot, ring.NumSlots)
	}
	if !s.gate.enter() {
		return ErrClosed
	}
	defer s.gate.exit()
	prefix := appendSlotPrefix(nil, slot)
	lower := prefix
	if after != nil {
		if afterDB < 0 || afterDB > 255 {
			return fmt.Errorf("engine: db %d out of range", afterDB)
		}
		lower = append(append(appendSlotDBPrefix(nil, slot, afterDB), after...), 0)
	}
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: keySuccessor(prefix)})
	if err != nil {
		return fmt.Errorf("engine: scan digests of slot %d: %w", slot, err)
	}
	err = scanRecords(iter, func(k []byte, db int, key, val []byte) bool {
		return fn(db, bytes.Clone(key), recordHash(k, val))
	})
	if err != nil {
		return fmt.Errorf("engine: scan digests of slot %d: %w", slot, err)
	}
	return nil
}
