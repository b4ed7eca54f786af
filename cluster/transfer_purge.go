package cluster

import (
	"context"
	"slices"
	"time"

	"github.com/ringstore/ringstore/coordinator"
	"github.com/ringstore/ringstore/ring"
)

// SlotDropper removes a node's records of whole slots, every database
// (engine.Store.DropSlots), and returns how many it removed.
type SlotDropper interface {
	DropSlots(slots []uint16) (records int64, err error)
}

// The purge: a node that left a slot's preference list drops its copy of
// the slot (Transfers.maybePurge), which frees the space and keeps a stale
// copy from being merged back if the node later regains the slot after a
// delete's tombstone was purged elsewhere (a Dynamo zombie).
//
// Which slots: only those this node held as a member of the preference
// list in a table it planned for and does not hold in the current one
// (lost). A slot it never held may still have records here: a sloppy
// quorum stand-in keeps a copy of a write so that reads during the failure
// find it; those are left alone. A node that knew of no other member
// before (a start, or its own ring of one merging into another) marks
// nothing lost: nobody has pulled its data, so its copy may be the only one.
//
// When: the conditions of purgeSafe hold for the current Snapshot, this
// node has nothing left to pull, and both have held, with no page served
// by this node, for PurgeDelay, so that writes sent by coordinators that
// learned of the change late have landed. The lost slots are in memory
// only, but a restarted node with a record of the slots it held when last
// synced (transfer_held.go) marks those it no longer holds as lost again.

// purgeSafe reports whether s lets this node purge any lost slot: every
// ring member, this node included, announced it is synced to exactly s's
// log. Then each of them has pulled what it gained in s's table (possibly
// from us), none has a pull pending for it, and none announced a newer or
// older view: a member whose log differs from ours, or that has not seen
// the change, is not Ready. A down member counts by what it announced
// last: one that synced to s's log before going down has what it needs.
func purgeSafe(s *Snapshot) bool {
	if s == nil || !s.Ready(s.Self) {
		return false
	}
	for _, id := range s.Table.Members() {
		if !s.Ready(id) {
			return false
		}
	}
	return true
}

// purgeable returns the slots marked in lost that s lets this node drop
// now: purgeSafe holds, this node is not in the slot's preference list of
// s's table, and every member of that list is Up (with one down, a
// coordinator may use this node as a stand-in, and its copy is then what
// reads find).
func purgeable(s *Snapshot, n int, lost *[ring.NumSlots]bool) []uint16 {
	if !purgeSafe(s) {
		return nil
	}
	var out []uint16
	var buf [16]string
	for slot := range uint16(ring.NumSlots) {
		if !lost[slot] {
			continue
		}
		pl := s.Table.PreferenceList(buf[:0], slot, n)
		if slices.Contains(pl, s.Self) {
			continue
		}
		up := true
		for _, id := range pl {
			up = up && s.Up(id)
		}
		if up {
			out = append(out, slot)
		}
	}
	return out
}

// markLost updates the lost slots for a plan from prev to next: a slot
// held in next is not lost; one held in prev and not in next is, unless
// this node was alone in prev.
func (t *Transfers) markLost(slot uint16, holdsNow, heldBefore, alone bool) {
	switch {
	case holdsNow && t.lost[slot]:
		t.lost[slot] = false
		t.nLost--
	case !holdsNow && heldBefore && !alone && !t.lost[slot]:
		t.lost[slot] = true
		t.nLost++
	}
}

// armPurge re-evaluates, for the current Snapshot, when a purge may run:
// purgeAt is zero when none may.
func (t *Transfers) armPurge(now time.Time) {
	if t.cfg.Dropper == nil || t.nLost == 0 || len(t.ranges) > 0 || t.snap == nil || t.snap.Log != t.planned || !purgeSafe(t.snap) {
		t.safeSince, t.purgeAt = time.Time{}, time.Time{}
		return
	}
	if t.safeSince.IsZero() || t.safeLog != t.snap.Log {
		t.safeSince, t.safeLog = now, t.snap.Log
	}
	t.purgeAt = later(t.safeSince.Add(t.cfg.PurgeDelay), t.purgeRetry)
}

// maybePurge drops the lost slots that may be dropped, when purgeAt has
// come. It waits while a page is being served, and for PurgeDelay after
// the last one: a node that pulls from us is still working.
func (t *Transfers) maybePurge(now time.Time) {
	if t.purgeAt.IsZero() || now.Before(t.purgeAt) {
		return
	}
	if t.serving.Load() > 0 {
		t.purgeAt = now.Add(t.cfg.PurgeDelay)
		return
	}
	if last := time.Unix(0, t.lastServed.Load()); now.Before(last.Add(t.cfg.PurgeDelay)) {
		t.purgeAt = last.Add(t.cfg.PurgeDelay)
		return
	}
	slots := purgeable(t.snap, t.cfg.N, &t.lost)
	// Until the next Snapshot, nothing more can become purgeable (a slot
	// left out waits for a member to come back up).
	t.purgeAt = time.Time{}
	if len(slots) == 0 {
		return
	}
	start := time.Now()
	records, err := t.cfg.Dropper.DropSlots(slots)
	if err != nil {
		t.purgeRetry = now.Add(t.cfg.RetryInterval)
		t.purgeAt = t.purgeRetry
		t.log.Warn("purge of lost slots failed; retrying later", "slots", len(slots), "err", err, "retry_in", t.cfg.RetryInterval)
		return
	}
	for _, s := range slots {
		t.lost[s] = false
	}
	t.nLost -= len(slots)
	t.stats.SlotsPurged.Add(int64(len(slots)))
	t.stats.RecordsPurged.Add(records)
	t.stats.Purges.Add(1)
	t.log.Info("purged slots this node no longer holds", "slots", len(slots), "records", records, "slots_left", t.nLost, "duration", time.Since(start).Round(time.Microsecond))
}

// PageHandler returns the OpSlotPage handler that serves pages of store's
// records (NewSlotPageHandler) and tells this Transfers when it does, so
// that no slot is purged while another node pulls from this one.
func (t *Transfers) PageHandler(store coordinator.Store, databases int) OpHandler {
	h := NewSlotPageHandler(store, databases)
	return func(ctx context.Context, from string, payload []byte) ([]byte, error) {
		t.serving.Add(1)
		defer func() {
			t.lastServed.Store(time.Now().UnixNano())
			t.serving.Add(-1)
		}()
		return h(ctx, from, payload)
	}
}
