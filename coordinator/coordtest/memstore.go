// Package coordtest provides test doubles for the coordinator's interfaces:
// an in-memory Store with fault switches. It is for tests only and must never
// be wired into a server.
package coordtest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/ringstore/ringstore/coordinator"
	"github.com/ringstore/ringstore/version"
)

// MemStore is an in-memory coordinator.Store. Safe for concurrent use.
type MemStore struct {
	// SlotOf maps a key to its slot; it must agree with ring.Slot for tests
	// that list keys by slot.
	SlotOf func(key []byte) uint16

	mu   sync.Mutex
	data map[string]version.Siblings // guarded by mu; key = db byte + key
	// FailGets and FailMerges make the next calls fail, for fault tests.
	FailGets, FailMerges int
	// PanicKey, if set, makes Get and Update of that key panic, for tests
	// of what survives a panicking store.
	PanicKey string
	Merges   int // count of Merge calls

	slots map[string]uint16 // guarded by mu: SlotOf of each key seen, computed once

	hints   []memHint // guarded by mu
	hintSeq uint64    // guarded by mu
}

// NewMemStore returns an empty store.
func NewMemStore(slotOf func([]byte) uint16) *MemStore {
	return &MemStore{SlotOf: slotOf, data: map[string]version.Siblings{}}
}

// ErrInjected is returned by injected faults.
var ErrInjected = errors.New("coordtest: injected fault")

func memKey(db int, key []byte) string { return string(append([]byte{byte(db)}, key...)) }

// Get implements coordinator.Store.
func (m *MemStore) Get(db int, key []byte) (version.Siblings, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.maybePanic(key)
	if m.FailGets > 0 {
		m.FailGets--
		return nil, ErrInjected
	}
	return clone(m.data[memKey(db, key)]), nil
}

// GetRecord is Get that also returns the siblings' encoding (nil: absent),
// as engine.Store.GetRecord does.
func (m *MemStore) GetRecord(db int, key []byte) (version.Siblings, []byte, error) {
	sib, err := m.Get(db, key)
	if err != nil || len(sib) == 0 {
		return sib, nil, err
	}
	return sib, sib.AppendBinary(nil), nil
}

// maybePanic panics if key is PanicKey. m.mu is held.
func (m *MemStore) maybePanic(key []byte) {
	if m.PanicKey != "" && string(key) == m.PanicKey {
		panic("coordtest: injected panic on key " + m.PanicKey)
	}
}

// Merge implements coordinator.Store.
func (m *MemStore) Merge(db int, key []byte, in version.Siblings) (version.Siblings, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Merges++
	if m.FailMerges > 0 {
		m.FailMerges--
		return nil, ErrInjected
	}
	k := memKey(db, key)
	out := version.Merge(m.data[k], clone(in))
	m.data[k] = out
	return clone(out), nil
}

// Update implements coordinator.Store.
func (m *MemStore) Update(db int, key []byte, fn func(cur version.Siblings) (version.Siblings, error)) (version.Siblings, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.maybePanic(key)
	m.Merges++
	if m.FailMerges > 0 {
		m.FailMerges--
		return nil, ErrInjected
	}
	k := memKey(db, key)
	in, err := fn(clone(m.data[k]))
	if err != nil {
		return nil, err
	}
	out := version.Merge(m.data[k], clone(in))
	m.data[k] = out
	return clone(out), nil
}

// ScanSlot implements coordinator.Store.
func (m *MemStore) ScanSlot(db int, slot uint16, after []byte, fn func(key []byte, sib version.Siblings) bool) error {
	m.mu.Lock()
	var keys []string
	if m.slots == nil {
		m.slots = map[string]uint16{}
	}
	for k := range m.data {
		sl, ok := m.slots[k]
		if !ok {
			sl = m.SlotOf([]byte(k[1:]))
			m.slots[k] = sl
		}
		if int(k[0]) == db && sl == slot && (after == nil || bytes.Compare([]byte(k[1:]), after) > 0) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	recs := make([]version.Siblings, len(keys))
	for i, k := range keys {
		recs[i] = clone(m.data[k])
	}
	m.mu.Unlock()
	for i, k := range keys {
		if !fn([]byte(k[1:]), recs[i]) {
			break
		}
	}
	return nil
}

// ScanSlots implements coordinator.Store.
func (m *MemStore) ScanSlots(db int, from, to uint16, fn func(slot uint16, key []byte, sib version.Siblings) bool) error {
	for slot := int(from); slot <= int(to); slot++ {
		stop := false
		m.ScanSlot(db, uint16(slot), nil, func(k []byte, sib version.Siblings) bool {
			stop = !fn(uint16(slot), k, sib)
			return !stop
		})
		if stop {
			break
		}
	}
	return nil
}

// FlushDB implements coordinator.Store.
func (m *MemStore) FlushDB(db int) error {
	if db < 0 || db > 255 {
		return fmt.Errorf("coordtest: db %d out of range", db)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.data {
		if int(k[0]) == db {
			delete(m.data, k)
		}
	}
	return nil
}

// FlushAll implements coordinator.Store.
func (m *MemStore) FlushAll() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.data)
	return nil
}

// DropSlots removes every record of the given slots, in every db, and
// returns how many it removed (cluster.SlotDropper, as engine.Store.DropSlots).
func (m *MemStore) DropSlots(slots []uint16) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := int64(0)
	for k := range m.data {
		if slices.Contains(slots, m.SlotOf([]byte(k[1:]))) {
			delete(m.data, k)
			n++
		}
	}
	return n, nil
}

func clone(s version.Siblings) version.Siblings {
	if s == nil {
		return nil
	}
	out := make(version.Siblings, len(s))
	for i, v := range s {
		v.Clock = slices.Clone(v.Clock)
		v.Value = bytes.Clone(v.Value)
		out[i] = v
	}
	return out
}

// memHint is one stored hint.
type memHint struct {
	h coordinator.Hint
}

// PutHint implements coordinator.HintStore.
func (m *MemStore) PutHint(target string, db int, key []byte, sib version.Siblings) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hintSeq++
	m.hints = append(m.hints, memHint{coordinator.Hint{Target: target, DB: db, Key: bytes.Clone(key), Siblings: clone(sib), Seq: m.hintSeq}})
	return nil
}

// PendingHints implements coordinator.HintStore.
func (m *MemStore) PendingHints(target string, limit int) ([]coordinator.Hint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []coordinator.Hint
	for _, h := range m.hints {
		if h.h.Target == target && len(out) < limit {
			out = append(out, h.h)
		}
	}
	return out, nil
}

// RemoveHint implements coordinator.HintStore.
func (m *MemStore) RemoveHint(h coordinator.Hint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hints = slices.DeleteFunc(m.hints, func(x memHint) bool { return x.h.Seq == h.Seq })
	return nil
}

// HintCounts implements coordinator.HintStore.
func (m *MemStore) HintCounts() (map[string]int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]int{}
	for _, h := range m.hints {
		out[h.h.Target]++
	}
	return out, nil
}

// SlotKeys has no counts to offer: the coordinator scans the slot, which
// is what a store without counts must be answered with.
func (m *MemStore) SlotKeys(db int, slot uint16) (present, expiring int64, ok bool) {
	return 0, 0, false
}
