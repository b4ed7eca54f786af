package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ringstore/ringstore/ring"
	"github.com/ringstore/ringstore/version"
)

// recount computes what SlotKeys must answer for db and slot from the
// records themselves, the keys visible at nowMs, and the mortal records.
func recount(t *testing.T, s *Store, db int, slot uint16, nowMs int64) (present, expiring, visible, mortal int64) {
	t.Helper()
	err := s.ScanSlot(db, slot, nil, func(_ []byte, sib version.Siblings) bool {
		for i := range sib {
			if sib[i].Tombstone || sib[i].ExpireAt != 0 {
				mortal++
				break
			}
		}
		switch classify(sib).visibility() {
		case classExpiring:
			expiring++
			present++
		case classPresent:
			present++
		}
		if _, ok := sib.Visible(nowMs); ok {
			visible++
		}
		return true
	})
	if err != nil {
		t.Fatalf("ScanSlot(%d, %d): %v", db, slot, err)
	}
	return present, expiring, visible, mortal
}

// mortalCount is the store's count of mortal records of db in slot.
func mortalCount(s *Store, db int, slot uint16) int64 {
	if t := s.counts.dbs[db].Load(); t != nil {
		return t[slot].mortal.Load()
	}
	return 0
}

// slotDigest returns the kept digest of slot and the one its records hash
// to.
func slotDigest(t *testing.T, s *Store, slot uint16) (kept, recomputed uint64) {
	t.Helper()
	d, ok := s.SlotDigests(slot, slot)
	if !ok {
		t.Fatalf("SlotDigests(%d) not trusted", slot)
	}
	if err := s.ScanSlotDigests(slot, 0, nil, func(_ int, _ []byte, h uint64) bool {
		recomputed ^= h
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return d[0], recomputed
}

// TestKeyCountsFollowRecords runs a random history of writes, deletes,
// concurrent siblings, expiring values, expiry cycles, FLUSHDBs and
// restarts, and checks after every step that each slot's counts are what
// its records say, and that a slot without expiring records counts exactly
// its visible keys.
func TestKeyCountsFollowRecords(t *testing.T) {
	clk := newFakeClock(t0)
	s := newTestStore(t, clk)
	r := rand.New(rand.NewPCG(7, 11))

	const dbs = 3
	var keys []string
	slots := map[uint16]bool{}
	for tag := range 6 {
		for i := range 12 {
			k := fmt.Sprintf("{tag%d}k%d", tag, i)
			keys = append(keys, k)
			slots[ring.Slot([]byte(k))] = true
		}
	}
	check := func(step int, what string) {
		t.Helper()
		now := clk.Now().UnixMilli()
		for db := range dbs {
			for slot := range slots {
				wantP, wantE, vis, wantM := recount(t, s, db, slot, now)
				p, e, ok := s.SlotKeys(db, slot)
				if !ok || p != wantP || e != wantE {
					t.Fatalf("step %d (%s): SlotKeys(%d, %d) = %d, %d, %v; the records say %d, %d",
						step, what, db, slot, p, e, ok, wantP, wantE)
				}
				if m := mortalCount(s, db, slot); m != wantM {
					t.Fatalf("step %d (%s): %d mortal records counted in slot %d of db %d; the records say %d",
						step, what, m, slot, db, wantM)
				}
				if got, want := slotDigest(t, s, slot); got != want {
					t.Fatalf("step %d (%s): slot %d digest %x; its records hash to %x", step, what, slot, got, want)
				}
				if e == 0 && p != vis {
					t.Fatalf("step %d (%s): slot %d of db %d counts %d keys with none expiring, but %d are visible",
						step, what, slot, db, p, vis)
				}
			}
		}
	}

	counter := uint64(0)
	for step := range 1500 {
		db := r.IntN(dbs)
		key := keys[r.IntN(len(keys))]
		now := clk.Now().UnixMilli()
		cur := mustGet(t, s, db, key)
		counter++
		var what string
		switch op := r.IntN(100); {
		case op < 40:
			what = "write"
			v := after(cur, "n1", now, "v")
			if r.IntN(3) == 0 {
				v.ExpireAt = now + int64(1+r.IntN(50))
				what = "write with expiry"
			}
			mustMerge(t, s, db, key, v)
		case op < 55:
			what = "delete"
			v := after(cur, "n1", now, "")
			v.Tombstone, v.Value = true, nil
			mustMerge(t, s, db, key, v)
		case op < 70:
			what = "concurrent write"
			v := ver(fmt.Sprintf("n%d", 2+r.IntN(3)), counter, now+int64(r.IntN(3)), "c")
			if r.IntN(2) == 0 {
				v.Tombstone, v.Value = true, nil
				what = "concurrent delete"
			}
			mustMerge(t, s, db, key, v)
		case op < 85:
			what = "expiry"
			clk.Advance(time.Duration(r.IntN(40)) * time.Millisecond)
			for range 3 {
				s.expireCycle()
			}
		case op < 97:
			what = "time"
			clk.Advance(time.Duration(r.IntN(20)) * time.Millisecond)
		case op < 99:
			what = "flushdb"
			if err := s.FlushDB(db); err != nil {
				t.Fatalf("FlushDB: %v", err)
			}
		default:
			what = "restart"
			s = reopen(t, s)
		}
		check(step, what)
	}
}

// TestKeyCountsAfterFlushAllAndReopen checks the counts of a store that
// is emptied by FLUSHALL and of one rebuilt at Open with more records than
// the record cache holds.
func TestKeyCountsAfterFlushAllAndReopen(t *testing.T) {
	s := newTestStore(t, nil, func(c *Config) { c.RecordCacheSize = 1 << 10 })
	for i := range 500 {
		mustMerge(t, s, i%2, fmt.Sprintf("{same}k%d", i), ver("n1", uint64(i+1), t0, "v"))
	}
	slot := ring.Slot([]byte("{same}"))
	if p, e, ok := s.SlotKeys(0, slot); !ok || p != 250 || e != 0 {
		t.Fatalf("before restart: SlotKeys = %d, %d, %v; want 250, 0, true", p, e, ok)
	}
	s = reopen(t, s)
	if p, e, ok := s.SlotKeys(1, slot); !ok || p != 250 || e != 0 {
		t.Fatalf("after restart: SlotKeys = %d, %d, %v; want 250, 0, true", p, e, ok)
	}
	if err := s.FlushAll(); err != nil {
		t.Fatal(err)
	}
	for db := range 2 {
		if p, e, ok := s.SlotKeys(db, slot); !ok || p != 0 || e != 0 {
			t.Fatalf("after FLUSHALL: SlotKeys(%d) = %d, %d, %v; want 0, 0, true", db, p, e, ok)
		}
	}
	if _, _, ok := s.SlotKeys(16, slot); ok {
		t.Fatal("SlotKeys of a database out of range reports counts")
	}
}

// TestSlotDigestsAgreeAcrossStores merges the same versions into two
// stores in different orders, with expiry on one side only before the
// other catches up: equal contents give equal digests, and a store missing
// one version differs in exactly that version's slot.
func TestSlotDigestsAgreeAcrossStores(t *testing.T) {
	clk := newFakeClock(t0)
	a, b := newTestStore(t, clk), newTestStore(t, clk)
	r := rand.New(rand.NewPCG(1, 2))
	type write struct {
		db  int
		key string
		v   version.Version
	}
	var writes []write
	for i := range 300 {
		v := ver(fmt.Sprintf("n%d", r.IntN(3)), uint64(i+1), t0+int64(r.IntN(50)), fmt.Sprint(i))
		if r.IntN(4) == 0 {
			v.Tombstone, v.Value = true, nil
		}
		writes = append(writes, write{r.IntN(2), fmt.Sprintf("k%d", r.IntN(60)), v})
	}
	for _, w := range writes {
		mustMerge(t, a, w.db, w.key, w.v)
	}
	for _, i := range r.Perm(len(writes)) {
		w := writes[i]
		mustMerge(t, b, w.db, w.key, w.v)
	}
	da, _ := a.SlotDigests(0, ring.NumSlots-1)
	db, _ := b.SlotDigests(0, ring.NumSlots-1)
	for slot := range da {
		if da[slot] != db[slot] {
			t.Fatalf("slot %d: digests %x and %x after the same merges", slot, da[slot], db[slot])
		}
	}
	extra := ver("n9", 1, t0+100, "only in a")
	mustMerge(t, a, 1, "k7", extra)
	da, _ = a.SlotDigests(0, ring.NumSlots-1)
	want := ring.Slot([]byte("k7"))
	for slot := range da {
		if differ := da[slot] != db[slot]; differ != (uint16(slot) == want) {
			t.Fatalf("slot %d: differ = %v after a version only one store has (in slot %d)", slot, differ, want)
		}
	}
	mustMerge(t, b, 1, "k7", extra)
	if da, db := mustDigest(t, a, want), mustDigest(t, b, want); da != db {
		t.Fatalf("slot %d still differs once both hold the version: %x, %x", want, da, db)
	}
}

func mustDigest(t *testing.T, s *Store, slot uint16) uint64 {
	t.Helper()
	d, ok := s.SlotDigests(slot, slot)
	if !ok {
		t.Fatal("digests not trusted")
	}
	return d[0]
}

// TestSlotDigestsSurviveReopen: the digests a store keeps up to date as it
// writes (Merge and UpdateMany, over cached and uncached records, new keys
// and overwrites) equal the ones Open computes from what pebble holds, so
// the incremental hashing and the one at start-up agree.
func TestSlotDigestsSurviveReopen(t *testing.T) {
	fs := vfs.NewMem()
	small := func(c *Config) { c.FS = fs; c.RecordCacheSize = 4 << 10 } // evicts: some writes load from pebble
	s := newTestStore(t, nil, small)
	for i := range 200 {
		mustMerge(t, s, i%2, fmt.Sprintf("k%d", i%70), ver("a", uint64(i+1), t0+int64(i), fmt.Sprint("v", i)))
	}
	keys := [][]byte{[]byte("k1"), []byte("m1"), []byte("k1"), []byte("k5")}
	n := uint64(1000)
	if err := s.UpdateMany(1, keys, func(_ int, cur version.Siblings) (version.Siblings, error) {
		n++
		return version.Siblings{after(cur, "b", t0+int64(n), fmt.Sprint("w", n))}, nil
	}); err != nil {
		t.Fatal(err)
	}
	before, ok := s.SlotDigests(0, ring.NumSlots-1)
	if !ok {
		t.Fatal("digests not trusted")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = newTestStore(t, nil, small)
	reopened, _ := s.SlotDigests(0, ring.NumSlots-1)
	nonzero := 0
	for slot := range before {
		if before[slot] != reopened[slot] {
			t.Fatalf("slot %d: digest %x while writing, %x once reopened", slot, before[slot], reopened[slot])
		}
		if before[slot] != 0 {
			nonzero++
		}
	}
	if nonzero == 0 {
		t.Fatal("no slot has a digest: nothing was compared")
	}
}

// checkStoresAgree fails t unless stores a and b, which took the same
// history by two ways (named wayA and wayB), hold the same siblings for
// every key of keys in databases 0..dbs-1, the same counts and mortal
// tallies in every slot of slots, and the same slot digests, a's kept
// digests matching its records.
func checkStoresAgree(t *testing.T, step int, a, b *Store, wayA, wayB string, dbs int, keys []string, slots map[uint16]bool) {
	t.Helper()
	for d := range dbs {
		for _, k := range keys {
			sa, sb := mustGet(t, a, d, k), mustGet(t, b, d, k)
			if !sa.Equal(sb) {
				t.Fatalf("step %d: db %d key %q: %s left %v, %s %v", step, d, k, wayA, values(sa), wayB, values(sb))
			}
		}
		for slot := range slots {
			pa, ea, oka := a.SlotKeys(d, slot)
			pb, eb, okb := b.SlotKeys(d, slot)
			if pa != pb || ea != eb || !oka || !okb {
				t.Fatalf("step %d: SlotKeys(%d, %d): %s %d,%d,%v; %s %d,%d,%v", step, d, slot, wayA, pa, ea, oka, wayB, pb, eb, okb)
			}
			if ma, mb := mortalCount(a, d, slot), mortalCount(b, d, slot); ma != mb {
				t.Fatalf("step %d: db %d slot %d: %s counts %d mortal records, %s %d", step, d, slot, wayA, ma, wayB, mb)
			}
		}
	}
	for slot := range slots {
		if got, want := slotDigest(t, a, slot); got != want {
			t.Fatalf("step %d: slot %d digest %x; its records hash to %x", step, slot, got, want)
		}
		if da, db := mustDigest(t, a, slot), mustDigest(t, b, slot); da != db {
			t.Fatalf("step %d: slot %d digest %x after %s, %x after %s", step, slot, da, wayA, db, wayB)
		}
	}
}

// taggedKeys returns tags*per keys "{<prefix><tag>}k<i>", per keys to a
// hash tag and so to a slot, and the slots they fall in.
func taggedKeys(prefix string, tags, per int) ([]string, map[uint16]bool) {
	var keys []string
	slots := map[uint16]bool{}
	for tag := range tags {
		for i := range per {
			k := fmt.Sprintf("{%s%d}k%d", prefix, tag, i)
			keys = append(keys, k)
			slots[ring.Slot([]byte(k))] = true
		}
	}
	return keys, slots
}
