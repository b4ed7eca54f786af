package coordinator

import (
	"context"
	"math/rand/v2"

	"github.com/ringstore/ringstore/version"
)

// numSlots mirrors ring.NumSlots; the coordinator walks keys slot by slot.
const numSlots = 16384

// Scan visits the visible keys of db in the slots this node lists keys for
// (those it is master of: see Topology.Master),
// starting at cursor, and returns the cursor to continue from (0 when the
// walk is complete). A cursor is a slot number: every call finishes the slots
// it starts, so a key present for the whole walk is visited exactly once and
// cursors stay valid across restarts and writes. It stops after the slot in
// which at least count keys have been visited.
func (c *Coordinator) Scan(ctx context.Context, db int, cursor uint64, count int, fn func(key []byte, v Value)) (uint64, error) {
	if err := c.checkDB(db); err != nil {
		return 0, err
	}
	if cursor >= numSlots {
		return 0, nil
	}
	now := c.NowMillis()
	seen := 0
	topo := c.topology()
	for slot := uint16(cursor); int(slot) < numSlots; slot++ {
		if err := ctxErr(ctx); err != nil {
			return 0, err
		}
		if !c.lists(topo, slot) {
			continue
		}
		err := c.store.ScanSlot(db, slot, nil, func(key []byte, sib version.Siblings) bool {
			if v, ok := visible(sib, now); ok {
				fn(key, v)
				seen++
			}
			return true
		})
		if err != nil {
			return 0, err
		}
		if seen >= count && int(slot)+1 < numSlots {
			return uint64(slot) + 1, nil
		}
	}
	return 0, nil
}

// DBSize counts the visible keys of db.
func (c *Coordinator) DBSize(ctx context.Context, db int) (int64, error) {
	var n int64
	_, err := c.Scan(ctx, db, 0, int(^uint(0)>>1), func([]byte, Value) { n++ })
	return n, err
}

// RandomKey returns a visible key of db chosen at random, or false when db is
// empty. It starts at a random slot and takes the first key found.
func (c *Coordinator) RandomKey(ctx context.Context, db int) ([]byte, bool, error) {
	if err := c.checkDB(db); err != nil {
		return nil, false, err
	}
	now := c.NowMillis()
	start := rand.IntN(numSlots)
	topo := c.topology()
	for i := 0; i < numSlots; i++ {
		if err := ctxErr(ctx); err != nil {
			return nil, false, err
		}
		slot := uint16((start + i) % numSlots)
		if !c.lists(topo, slot) {
			continue
		}
		var keys [][]byte
		err := c.store.ScanSlot(db, slot, nil, func(key []byte, sib version.Siblings) bool {
			if _, ok := visible(sib, now); ok {
				keys = append(keys, key)
			}
			return true
		})
		if err != nil {
			return nil, false, err
		}
		if len(keys) > 0 {
			return keys[rand.IntN(len(keys))], true, nil
		}
	}
	return nil, false, nil
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
