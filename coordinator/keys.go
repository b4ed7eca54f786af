package coordinator

import (
	"context"
	"math/rand/v2"

	"github.com/ringstore/ringstore/version"
)

// numSlots mirrors ring.NumSlots; the coordinator walks keys slot by slot.
const numSlots = 16384

// Scan visits the visible keys of db in the slots this node lists keys for
// (those it is master of: see Topology.Master), starting at cursor, and
// returns the cursor to continue from (0 when the walk is complete). A
// cursor is a slot number: every call finishes the slots it starts, so a key
// present for the whole walk is visited exactly once and cursors stay valid
// across restarts and writes. It stops before the first slot with keys that
// it reaches after visiting at least count keys.
func (c *Coordinator) Scan(ctx context.Context, db int, cursor uint64, count int, fn func(key []byte, v Value)) (uint64, error) {
	if err := c.checkDB(db); err != nil {
		return 0, err
	}
	if cursor >= numSlots {
		return 0, nil
	}
	return c.walk(ctx, db, uint16(cursor), numSlots-1, count, func(_ uint16, key []byte, v Value) bool {
		fn(key, v)
		return true
	})
}

// walk visits the visible keys of db in the listed slots from..to until fn
// returns false, or until a new slot starts after count keys were visited;
// it returns that slot (0 when it got to the end).
func (c *Coordinator) walk(ctx context.Context, db int, from, to uint16, count int, fn func(slot uint16, key []byte, v Value) bool) (uint64, error) {
	now := c.NowMillis()
	topo := c.topology()
	seen, cur, listed := 0, -1, false
	var next uint64
	var cerr error
	err := c.store.ScanSlots(db, from, to, func(slot uint16, key []byte, sib version.Siblings) bool {
		if int(slot) != cur {
			if seen >= count {
				next = uint64(slot)
				return false
			}
			if cerr = ctxErr(ctx); cerr != nil {
				return false
			}
			cur, listed = int(slot), c.lists(topo, slot)
		}
		if !listed {
			return true
		}
		if v, ok := visible(sib, now); ok {
			seen++
			return fn(slot, key, v)
		}
		return true
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	return next, nil
}

// DBSize counts the visible keys of db in the slots this node lists keys
// for (see Scan).
func (c *Coordinator) DBSize(ctx context.Context, db int) (int64, error) {
	keys, _, err := c.KeyCounts(ctx, db)
	return keys, err
}

// KeyCounts counts the visible keys of db in the slots this node lists keys
// for (see Scan), and among them those with an expiry time. A slot costs a
// look at the store's counts, and a scan only when it holds keys with an
// expiry time, whose visibility depends on the time.
func (c *Coordinator) KeyCounts(ctx context.Context, db int) (keys, expires int64, err error) {
	if err := c.checkDB(db); err != nil {
		return 0, 0, err
	}
	now := c.NowMillis()
	topo := c.topology()
	for slot := range uint16(numSlots) {
		if slot%1024 == 0 {
			if err := ctxErr(ctx); err != nil {
				return 0, 0, err
			}
		}
		// An empty slot (by the store's counts) adds nothing: skip it
		// before asking the topology whether it is listed here, which is
		// the dearer question; in a store with few keys most slots are
		// empty, and INFO counts every database.
		if present, expiring, ok := c.store.SlotKeys(db, slot); ok && present == 0 && expiring == 0 {
			continue
		}
		if !c.lists(topo, slot) {
			continue
		}
		k, e, err := c.countSlot(db, slot, now)
		if err != nil {
			return 0, 0, err
		}
		keys += k
		expires += e
	}
	return keys, expires, nil
}

// countSlot counts the visible keys of db stored in slot at now, and those
// of them with an expiry time: from the store's counts when no record of the
// slot has an expiry time, else by a scan of the slot.
func (c *Coordinator) countSlot(db int, slot uint16, now int64) (keys, expires int64, err error) {
	present, expiring, ok := c.store.SlotKeys(db, slot)
	if ok && expiring == 0 {
		return present, 0, nil
	}
	err = c.store.ScanSlot(db, slot, nil, func(_ []byte, sib version.Siblings) bool {
		if v, ok := visible(sib, now); ok {
			keys++
			if v.ExpireAt != 0 {
				expires++
			}
		}
		return true
	})
	return keys, expires, err
}

// CountKeysInSlot counts the visible keys of db stored in slot on this node,
// whether or not it lists the slot's keys (CLUSTER COUNTKEYSINSLOT).
func (c *Coordinator) CountKeysInSlot(ctx context.Context, db int, slot uint16) (int64, error) {
	if err := c.checkDB(db); err != nil {
		return 0, err
	}
	keys, _, err := c.countSlot(db, slot, c.NowMillis())
	return keys, err
}

// RandomKey returns a visible key of db, or false when db is empty: the
// first key at or after a random slot.
func (c *Coordinator) RandomKey(ctx context.Context, db int) ([]byte, bool, error) {
	if err := c.checkDB(db); err != nil {
		return nil, false, err
	}
	start := uint16(rand.IntN(numSlots))
	var found []byte
	take := func(_ uint16, key []byte, _ Value) bool { found = key; return false }
	if _, err := c.walk(ctx, db, start, numSlots-1, int(^uint(0)>>1), take); err != nil || found != nil || start == 0 {
		return found, found != nil, err
	}
	_, err := c.walk(ctx, db, 0, start-1, int(^uint(0)>>1), take)
	return found, found != nil, err
}

// KeysInSlot returns up to count visible keys of db stored in slot.
func (c *Coordinator) KeysInSlot(ctx context.Context, db int, slot uint16, count int) ([][]byte, error) {
	if err := c.checkDB(db); err != nil {
		return nil, err
	}
	now := c.NowMillis()
	var keys [][]byte
	err := c.store.ScanSlot(db, slot, nil, func(key []byte, sib version.Siblings) bool {
		if len(keys) >= count {
			return false
		}
		if _, ok := visible(sib, now); ok {
			keys = append(keys, key)
		}
		return true
	})
	return keys, err
}

// FlushDB removes every key of db.
func (c *Coordinator) FlushDB(ctx context.Context, db int) error {
	if err := c.checkDB(db); err != nil {
		return err
	}
	return c.store.FlushDB(db)
}

// FlushAll removes every key of every db.
func (c *Coordinator) FlushAll(ctx context.Context) error { return c.store.FlushAll() }
