package engine

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// TestEntryTableMatchesMap runs random sets, lookups, deletions, filters,
// evictions and clears on an entryTable and on a Go map, with hashes
// crowded onto a few home slots near the end of the array (long runs that
// wrap around, in tables up to thousands of slots), and checks that both
// hold the same entries and that every entry is reachable from its home
// slot.
func TestEntryTableMatchesMap(t *testing.T) {
	biggest := 0
	for seed := range uint64(10) {
		rng := rand.New(rand.NewPCG(seed, 99))
		var tab entryTable
		model := map[uint64]cacheEntry{}
		hash := func() uint64 {
			// Half the hashes crowd onto homes near the end of every
			// array up to 4096 slots (low bits 4088-4095 are 56-63 of
			// a 64-slot array too), so that runs collide and wrap at
			// every size the table grows through; the rest spread.
			if rng.IntN(2) == 0 {
				return uint64(4088+rng.IntN(8)) | uint64(rng.IntN(500))<<12
			}
			return uint64(rng.IntN(1 << 20))
		}
		entry := func(h uint64) cacheEntry { // key h, record one random byte
			kr := append(binary.LittleEndian.AppendUint64(nil, h), byte(rng.IntN(256)))
			return cacheEntry{kr: kr, klen: 8}
		}
		for step := range 8000 {
			switch op := rng.IntN(1000); {
			case op < 600:
				h := hash()
				e := entry(h)
				old, ok := tab.set(h, e)
				if want, wok := model[h]; ok != wok || (ok && &old.kr[0] != &want.kr[0]) {
					t.Fatalf("seed %d step %d: set(%d) replaced %v, %v; want %v, %v", seed, step, h, old, ok, want, wok)
				}
				model[h] = e
			case op < 800:
				h := hash()
				got, ok := tab.del(h)
				want, wok := model[h]
				if ok != wok || (ok && &got.kr[0] != &want.kr[0]) {
					t.Fatalf("seed %d step %d: del(%d) = %v, %v; want %v, %v", seed, step, h, got, ok, want, wok)
				}
				delete(model, h)
			case op < 801:
				odd := rng.IntN(2) == 0
				asked := map[uint64]bool{}
				tab.filter(func(h uint64, e cacheEntry) bool {
					asked[h] = true
					return (e.kr[8]%2 == 1) != odd
				})
				for h, e := range model {
					if !asked[h] {
						t.Fatalf("seed %d step %d: filter skipped %d", seed, step, h)
					}
					if (e.kr[8]%2 == 1) == odd {
						delete(model, h)
					}
				}
			case op < 900:
				n := 1 + rng.IntN(3)
				tab.evict(func(e cacheEntry) bool {
					h := binary.LittleEndian.Uint64(e.key())
					if _, ok := model[h]; !ok {
						t.Fatalf("seed %d step %d: evicted %d, which it does not hold", seed, step, h)
					}
					delete(model, h)
					n--
					return n > 0
				})
			default:
				if rng.IntN(500) == 0 {
					tab.clear()
					clear(model)
				}
			}
			if len(tab.slots) <= 256 || step%50 == 0 { // a full check costs a walk of the table
				checkTable(t, &tab, model)
			} else if tab.len() != len(model) {
				t.Fatalf("seed %d step %d: table holds %d entries, model %d", seed, step, tab.len(), len(model))
			}
			biggest = max(biggest, len(tab.slots))
		}
	}
	if biggest < 2048 {
		t.Fatalf("the table grew to %d slots at most: too small a test", biggest)
	}
}

func checkTable(t *testing.T, tab *entryTable, model map[uint64]cacheEntry) {
	t.Helper()
	if tab.len() != len(model) {
		t.Fatalf("table holds %d entries, model %d", tab.len(), len(model))
	}
	occupied := 0
	mask := len(tab.slots) - 1
	for i, s := range tab.slots {
		if s.e.kr == nil {
			continue
		}
		occupied++
		for j := tab.home(s.h); j != i; j = (j + 1) & mask {
			if tab.slots[j].e.kr == nil {
				t.Fatalf("slot %d (hash %d, home %d) lies past empty slot %d", i, s.h, tab.home(s.h), j)
			}
		}
	}
	if occupied != tab.len() {
		t.Fatalf("%d slots occupied, len %d", occupied, tab.len())
	}
	for h, want := range model {
		got, ok := tab.get(h)
		if !ok || &got.kr[0] != &want.kr[0] || got.klen != want.klen {
			t.Fatalf("get(%d) = %v, %v; want %v", h, got, ok, want)
		}
	}
	if _, ok := tab.get(1 << 40); ok {
		t.Fatal("found a hash never set")
	}
}

// TestEntryTableOverwriteDoesNotGrow: a table at its load limit takes an
// overwrite in place; only a new entry doubles it.
func TestEntryTableOverwriteDoesNotGrow(t *testing.T) {
	var tab entryTable
	for h := range uint64(minTableSlots * 3 / 4) {
		tab.set(h, cacheEntry{kr: []byte{1}, klen: 1})
	}
	tab.set(0, cacheEntry{kr: []byte{2}, klen: 1})
	if len(tab.slots) != minTableSlots || tab.len() != minTableSlots*3/4 {
		t.Fatalf("after an overwrite: %d slots, %d entries", len(tab.slots), tab.len())
	}
	tab.set(1000, cacheEntry{kr: []byte{3}, klen: 1})
	if len(tab.slots) != 2*minTableSlots || tab.len() != minTableSlots*3/4+1 {
		t.Fatalf("after a new entry: %d slots, %d entries", len(tab.slots), tab.len())
	}
}
