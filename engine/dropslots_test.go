package engine

import (
	"fmt"
	"slices"
	"testing"

	"github.com/ringstore/ringstore/ring"
	"github.com/ringstore/ringstore/version"
)

// slotKeys returns n keys of each of slots, found by trying key names.
func slotKeys(slots []uint16, n int) map[uint16][]string {
	out := map[uint16][]string{}
	for i := 0; ; i++ {
		k := fmt.Sprint("key:", i)
		s := ring.Slot([]byte(k))
		if slices.Contains(slots, s) && len(out[s]) < n {
			out[s] = append(out[s], k)
		}
		done := true
		for _, s := range slots {
			done = done && len(out[s]) == n
		}
		if done {
			return out
		}
	}
}

// slotCount counts db's records in slot with ScanSlot (pebble, past the cache).
func slotCount(t *testing.T, s *Store, db int, slot uint16) int {
	t.Helper()
	n := 0
	if err := s.ScanSlot(db, slot, nil, func([]byte, version.Siblings) bool { n++; return true }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDropSlots: records in several slots and databases; dropping some
// slots removes exactly their records from pebble and from the cache, in
// every database, leaves the others and hints alone, and a complete cache
// stays complete and right (a miss is a true absence).
func TestDropSlots(t *testing.T) {
	// Neighbouring slots, so that runs merge and end next to kept ones:
	// 100 and 101 dropped, 102 kept, 103 dropped, 104 kept, 9000 dropped,
	// 16383 (the last) dropped, 0 (the first) kept, 200 kept and empty
	// between dropped 199 and 201.
	dropped := []uint16{100, 101, 103, 9000, 16383, 199, 201}
	kept := []uint16{0, 102, 104, 5000}
	keys := slotKeys(slices.Concat(dropped, kept), 3)
	const dbs = 3
	for name, size := range map[string]int64{"complete cache": 8 << 20, "no cache": -1, "tiny cache": 2 << 10} {
		t.Run(name, func(t *testing.T) {
			s := newTestStore(t, nil, func(c *Config) { c.Databases = dbs; c.RecordCacheSize = size })
			for _, ks := range keys {
				for db := range dbs {
					for _, k := range ks {
						mustMerge(t, s, db, k, ver("a", 1, t0, fmt.Sprint(db, k)))
					}
				}
			}
			if err := s.PutHint("b", 1, []byte(keys[100][0]), version.Siblings{ver("a", 1, t0, "hinted")}); err != nil {
				t.Fatal(err)
			}
			wasComplete := s.cache != nil && s.cache.complete.Load()
			if size > 1<<20 && !wasComplete {
				t.Fatal("the large cache is not complete before the drop")
			}
			n, err := s.DropSlots(slices.Concat(dropped, dropped[:2])) // repeats are fine
			if err != nil {
				t.Fatal(err)
			}
			if want := int64(len(dropped) * 3 * dbs); n != want {
				t.Fatalf("dropped %d records, want %d", n, want)
			}
			if st := s.Stats(); st.SlotsDropped != uint64(len(dropped)) || st.RecordsDropped != uint64(n) {
				t.Fatalf("stats: %d slots, %d records dropped", st.SlotsDropped, st.RecordsDropped)
			}
			if s.cache != nil && s.cache.complete.Load() != wasComplete {
				t.Fatalf("completeness changed from %v", wasComplete)
			}
			reads := s.Stats().PebbleReads
			for slot, ks := range keys {
				gone := slices.Contains(dropped, slot)
				for db := range dbs {
					for _, k := range ks {
						got := mustGet(t, s, db, k)
						if gone && got != nil {
							t.Fatalf("db %d %s (slot %d, dropped) still reads %q", db, k, slot, values(got))
						}
						if !gone && (len(got) != 1 || string(got[0].Value) != fmt.Sprint(db, k)) {
							t.Fatalf("db %d %s (slot %d, kept) reads %q", db, k, slot, values(got))
						}
						if p := pebbleRecord(t, s, db, k); (p != nil) == gone {
							t.Fatalf("db %d %s (slot %d): in pebble %v, dropped %v", db, k, slot, p != nil, gone)
						}
					}
					if c := slotCount(t, s, db, slot); (c == 0) != gone {
						t.Fatalf("db %d slot %d: ScanSlot finds %d records, dropped %v", db, slot, c, gone)
					}
					if p, _, ok := s.SlotKeys(db, slot); !ok || p != int64(slotCount(t, s, db, slot)) {
						t.Fatalf("db %d slot %d: SlotKeys counts %d (trusted %v) of %d records", db, slot, p, ok, slotCount(t, s, db, slot))
					}
				}
				if kept, recomputed := slotDigest(t, s, slot); kept != recomputed {
					t.Fatalf("slot %d (dropped %v): digest %x, its records hash to %x", slot, gone, kept, recomputed)
				}
			}
			if wasComplete && s.Stats().PebbleReads != reads {
				t.Fatalf("%d pebble reads although the cache stayed complete", s.Stats().PebbleReads-reads)
			}
			if hs, err := s.Hints("b", 0); err != nil || len(hs) != 1 {
				t.Fatalf("hints after the drop: %v, %v", hs, err)
			}
			// A write to a dropped slot after the drop is a new record.
			k := keys[9000][0]
			mustMerge(t, s, 0, k, ver("b", 1, t0, "again"))
			if got := values(mustGet(t, s, 0, k)); len(got) != 1 || got[0] != "again" {
				t.Fatalf("rewritten after the drop: %q", got)
			}
		})
	}
}

func TestDropSlotsRejectsBadSlots(t *testing.T) {
	s := newTestStore(t, nil)
	mustMerge(t, s, 0, "k", ver("a", 1, t0, "v"))
	if _, err := s.DropSlots([]uint16{ring.Slot([]byte("k")), ring.NumSlots}); err == nil {
		t.Fatal("no error for a slot out of range")
	}
	if mustGet(t, s, 0, "k") == nil {
		t.Fatal("a rejected drop removed a record")
	}
	if n, err := s.DropSlots(nil); n != 0 || err != nil {
		t.Fatalf("empty drop: %d, %v", n, err)
	}
}

func TestDropRuns(t *testing.T) {
	var drop [ring.NumSlots]bool
	for _, s := range []int{1, 2, 4, 7, 16383} {
		drop[s] = true
	}
	never := func(int) bool { return false }
	if got, want := dropRuns(&drop, never), []slotRun{{1, 3}, {4, 5}, {7, 8}, {16383, 16384}}; !slices.Equal(got, want) {
		t.Fatalf("runs %v, want %v", got, want)
	}
	// Slots 3 and 5 are empty, 6 and 8 are not: 1..4 is one run, 7 and
	// 16383 stay apart.
	empty := func(s int) bool { return s == 3 || s == 5 }
	if got, want := dropRuns(&drop, empty), []slotRun{{1, 5}, {7, 8}, {16383, 16384}}; !slices.Equal(got, want) {
		t.Fatalf("bridged runs %v, want %v", got, want)
	}
}
