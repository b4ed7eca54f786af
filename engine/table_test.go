package engine

import (
	"math/rand/v2"
	"testing"
)

// TestEntryTableMatchesMap runs random sets, lookups, deletions, filters,
// evictions and clears on an entryTable and on a Go map, with hashes
// crowded onto a few home slots near the end of the array (long runs that
// wrap around), and checks after every step that both hold the same
// entries and that every entry is reachable from its home slot.
func TestEntryTableMatchesMap(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 99))
		var tab entryTable
		model := map[uint64]cacheEntry{}
		hash := func() uint64 {
			// Homes 56-63 of the first 64-slot array, and a few
			// distinct high bits, so that runs collide and wrap; later
			// bits spread them once the table grows.
			return uint64(56+rng.IntN(8)) | uint64(rng.IntN(40))<<6
		}
		entry := func(h uint64) cacheEntry {
			kr := []byte{byte(h), byte(h >> 8), byte(rng.IntN(256))}
			return cacheEntry{kr: kr, klen: 2}
		}
		for step := range 3000 {
			switch op := rng.IntN(20); {
			case op < 9:
				h := hash()
				e := entry(h)
				tab.set(h, e)
				model[h] = e
			case op < 14:
				h := hash()
				got, ok := tab.del(h)
				want, wok := model[h]
				if ok != wok || (ok && &got.kr[0] != &want.kr[0]) {
					t.Fatalf("seed %d step %d: del(%d) = %v, %v; want %v, %v", seed, step, h, got, ok, want, wok)
				}
				delete(model, h)
			case op < 16:
				odd := rng.IntN(2) == 0
				asked := map[uint64]bool{}
				tab.filter(func(h uint64, e cacheEntry) bool {
					asked[h] = true
					return (e.kr[2]%2 == 1) != odd
				})
				for h, e := range model {
					if !asked[h] {
						t.Fatalf("seed %d step %d: filter skipped %d", seed, step, h)
					}
					if (e.kr[2]%2 == 1) == odd {
						delete(model, h)
					}
				}
			case op < 19:
				n := rng.IntN(5)
				tab.evict(func(e cacheEntry) bool {
					h := uint64(e.kr[0]) | uint64(e.kr[1])<<8
					if _, ok := model[h]; !ok {
						t.Fatalf("seed %d step %d: evicted %d, which it does not hold", seed, step, h)
					}
					delete(model, h)
					n--
					return n > 0
				})
			default:
				if rng.IntN(10) == 0 {
					tab.clear()
					clear(model)
				}
			}
			checkTable(t, &tab, model)
		}
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
