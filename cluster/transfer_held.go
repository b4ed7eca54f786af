package cluster

import (
	"bytes"
	"slices"

	"github.com/ringstore/ringstore/ring"
)

// Held slots across restarts.
//
// A node that restarts knows the ring (its log is durable) but not, by
// itself, which slots it held the last time it had all their data: without
// that it would have to pull every slot it holds again, which for a large
// store means moving all of its data over the network at every restart.
// So each time it announces a table synced, it records the slots it holds
// under that table (HeldStore), and after a restart it plans from that
// record as if it were the previous table: it pulls only the slots it holds
// now and did not hold then (gained while it was down), and marks the ones
// it held then and lost meanwhile for the purge. What it missed while down
// in slots it kept reaches it by hinted handoff, and what it lost in the
// crash itself (the last second under fsync everysec) by anti-entropy,
// both of which cost in proportion to what is missing, not to the data.
// A node whose record says it was alone in its ring (a one-node ring, or
// none recorded) still pulls everything: what it has may be unrelated to
// what the others have.

// HeldStore keeps small durable records; engine.Store's metadata is one.
type HeldStore interface {
	GetMeta(name string) ([]byte, bool, error)
	PutMeta(name string, val []byte) error
}

// heldMetaName is the name of the record.
const heldMetaName = "transfer-held-slots"

// The record: a format byte, a flag (1: the node was alone in its ring),
// then a bitmap of the 16384 slots, slot s in bit s%8 of byte s/8.
const (
	heldFormat = 1
	heldLen    = 2 + ring.NumSlots/8
)

// heldSlots is the decoded record.
type heldSlots struct {
	alone bool
	slots [ring.NumSlots]bool
}

func encodeHeld(h *heldSlots) []byte {
	b := make([]byte, heldLen)
	b[0] = heldFormat
	if h.alone {
		b[1] = 1
	}
	for s, held := range h.slots {
		if held {
			b[2+s/8] |= 1 << (s % 8)
		}
	}
	return b
}

// decodeHeld decodes a record; ok is false for one it does not know, which
// the caller treats as no record.
func decodeHeld(b []byte) (h heldSlots, ok bool) {
	if len(b) != heldLen || b[0] != heldFormat || b[1] > 1 {
		return h, false
	}
	h.alone = b[1] == 1
	for s := range h.slots {
		h.slots[s] = b[2+s/8]&(1<<(s%8)) != 0
	}
	return h, true
}

// heldUnder returns the slots self holds under table, and whether it is
// alone in it.
func heldUnder(table *ring.Table, self string, n int) *heldSlots {
	h := &heldSlots{alone: table.Len() <= 1}
	var buf [16]string
	for s := range ring.NumSlots {
		h.slots[s] = slices.Contains(table.PreferenceList(buf[:0], uint16(s), n), self)
	}
	return h
}

// loadHeld reads the record left by the last run, or nil when there is
// none (or no HeldStore).
func (t *Transfers) loadHeld() *heldSlots {
	if t.cfg.Held == nil {
		return nil
	}
	b, ok, err := t.cfg.Held.GetMeta(heldMetaName)
	if err != nil {
		t.log.Warn("range transfer: cannot read the held slots of the last run; pulling every slot", "err", err)
		return nil
	}
	if !ok {
		return nil
	}
	h, ok := decodeHeld(b)
	if !ok {
		t.log.Warn("range transfer: unknown record of held slots; pulling every slot")
		return nil
	}
	return &h
}

// saveHeld records the slots held under the table just announced synced,
// when they differ from the last record (a synced write per change of
// holdings, not per snapshot), and reports whether the record is now
// current. When the write fails it tries to leave an empty record instead,
// which a restart reads as none (pull every slot): the old one could name
// slots this node has since lost and purged.
func (t *Transfers) saveHeld() bool {
	if t.cfg.Held == nil || t.table == nil {
		return true
	}
	b := encodeHeld(heldUnder(t.table, t.cfg.NodeID, t.cfg.N))
	if bytes.Equal(b, t.savedHeld) {
		return true
	}
	if err := t.cfg.Held.PutMeta(heldMetaName, b); err != nil {
		t.savedHeld = nil
		if err2 := t.cfg.Held.PutMeta(heldMetaName, []byte{}); err2 != nil {
			t.log.Error("range transfer: cannot record the held slots nor clear the old record; a restart may skip slots it lacks", "err", err, "clear_err", err2)
		} else {
			t.log.Warn("range transfer: cannot record the held slots; a restart will pull every slot", "err", err)
		}
		return false
	}
	t.savedHeld = b
	return true
}
