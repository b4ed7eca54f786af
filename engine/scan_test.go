package engine

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ringstore/ringstore/ring"
	"github.com/ringstore/ringstore/version"
)

// scanKeys returns the keys ScanSlot passes to fn, stopping after limit
// (0: no limit).
func scanKeys(t *testing.T, s *Store, db int, slot uint16, after []byte, limit int) []string {
	t.Helper()
	var keys []string
	err := s.ScanSlot(db, slot, after, func(k []byte, sib version.Siblings) bool {
		if len(sib) == 0 {
			t.Errorf("key %q: empty siblings", k)
		}
		keys = append(keys, string(k))
		return limit == 0 || len(keys) < limit
	})
	if err != nil {
		t.Fatalf("ScanSlot(db %d, slot %d): %v", db, slot, err)
	}
	return keys
}

func TestScanSlotOrderAndResume(t *testing.T) {
	s := newTestStore(t, nil)
	// A hash tag puts every key in one slot.
	var keys []string
	for i := range 50 {
		keys = append(keys, fmt.Sprintf("{tag}%03d", i))
	}
	keys = append(keys, "{tag}", "{tag}\x00", "{tag}\xff")
	slot := ring.Slot([]byte("tag"))
	for _, i := range rand.Perm(len(keys)) {
		if got := ring.Slot([]byte(keys[i])); got != slot {
			t.Fatalf("key %q in slot %d, want %d", keys[i], got, slot)
		}
		mustMerge(t, s, 0, keys[i], ver("a", 1, t0, keys[i]))
	}
	want := slices.Sorted(slices.Values(keys))

	if got := scanKeys(t, s, 0, slot, nil, 0); !slices.Equal(got, want) {
		t.Fatalf("full scan:\n got %q\nwant %q", got, want)
	}
	// Resume in pages of 7 after the last key seen.
	var paged []string
	var cursor []byte
	for {
		page := scanKeys(t, s, 0, slot, cursor, 7)
		paged = append(paged, page...)
		if len(page) < 7 {
			break
		}
		cursor = []byte(page[len(page)-1])
	}
	if !slices.Equal(paged, want) {
		t.Fatalf("paged scan:\n got %q\nwant %q", paged, want)
	}
	// after need not be a stored key.
	if got := scanKeys(t, s, 0, slot, []byte("{tag}024x"), 0); !slices.Equal(got, want[slices.Index(want, "{tag}025"):]) {
		t.Fatalf("scan after an absent key: %q", got)
	}
	// An empty non-nil after skips only the empty key, which is in slot 0.
	mustMerge(t, s, 0, "", ver("a", 1, t0, "empty"))
	if got := scanKeys(t, s, 0, 0, nil, 0); !slices.Equal(got, []string{""}) {
		t.Fatalf("slot 0 from start: %q", got)
	}
	if got := scanKeys(t, s, 0, 0, []byte{}, 0); len(got) != 0 {
		t.Fatalf("slot 0 after the empty key: %q", got)
	}
	// Values come with the keys.
	err := s.ScanSlot(0, slot, nil, func(k []byte, sib version.Siblings) bool {
		if string(sib[0].Value) != string(k) {
			t.Errorf("key %q has value %q", k, sib[0].Value)
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestScanSlotIsolation(t *testing.T) {
	s := newTestStore(t, nil)
	// foo, bar and hello have different slots (12182, 5061, 866), and
	// neighbouring slots must not leak into each other either.
	keys := []string{"foo", "bar", "hello"}
	slots := map[uint16]string{}
	for _, k := range keys {
		sl := ring.Slot([]byte(k))
		if other, dup := slots[sl]; dup {
			t.Fatalf("%q and %q share slot %d", k, other, sl)
		}
		slots[sl] = k
		mustMerge(t, s, 0, k, ver("a", 1, t0, "db0"))
		mustMerge(t, s, 1, k, ver("a", 1, t0, "db1"))
	}
	for sl, k := range slots {
		for db := range 2 {
			if got := scanKeys(t, s, db, sl, nil, 0); !slices.Equal(got, []string{k}) {
				t.Errorf("db %d slot %d: %q, want [%q]", db, sl, got, k)
			}
			for _, near := range []uint16{sl - 1, sl + 1} {
				if got := scanKeys(t, s, db, near, nil, 0); len(got) != 0 {
					t.Errorf("db %d slot %d (next to %q): %q", db, near, k, got)
				}
			}
		}
		if got := scanKeys(t, s, 2, sl, nil, 0); len(got) != 0 {
			t.Errorf("db 2 slot %d: %q", sl, got)
		}
	}
	if err := s.ScanSlot(0, ring.NumSlots, nil, func([]byte, version.Siblings) bool { return true }); err == nil {
		t.Error("ScanSlot accepted slot 16384")
	}
}

func TestScanSlotLastDB(t *testing.T) {
	s := newTestStore(t, nil, func(c *Config) { c.Databases = MaxDatabases })
	slot := ring.Slot([]byte("foo"))
	mustMerge(t, s, 255, "foo", ver("a", 1, t0, "v"))
	// A key of the next slot in db 0 sorts right after foo's slot in db 255:
	// scans and flushes of db 255 must stop before it.
	next := keyInSlot(slot + 1)
	mustMerge(t, s, 0, next, ver("a", 1, t0, "v"))
	if got := scanKeys(t, s, 255, slot, nil, 0); !slices.Equal(got, []string{"foo"}) {
		t.Fatalf("db 255: %q", got)
	}
	if err := s.FlushDB(255); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, 255, "foo"); got != nil {
		t.Fatalf("FlushDB(255) left %v", values(got))
	}
	if got := mustGet(t, s, 0, next); got == nil {
		t.Fatal("FlushDB(255) removed a record of the next slot")
	}
}

// keyInSlot returns a key whose slot is slot.
func keyInSlot(slot uint16) string { return prefixedKeyInSlot("k", slot) }

// prefixedKeyInSlot returns a key starting with prefix whose slot is slot.
func prefixedKeyInSlot(prefix string, slot uint16) string {
	for i := 0; ; i++ {
		if k := fmt.Sprint(prefix, i); ring.Slot([]byte(k)) == slot {
			return k
		}
	}
}

func TestScanSlotIsASnapshot(t *testing.T) {
	s := newTestStore(t, nil)
	slot := ring.Slot([]byte("t"))
	mustMerge(t, s, 0, "{t}1", ver("a", 1, t0, "v"))
	mustMerge(t, s, 0, "{t}3", ver("a", 1, t0, "v"))
	var seen []string
	err := s.ScanSlot(0, slot, nil, func(k []byte, _ version.Siblings) bool {
		seen = append(seen, string(k))
		if string(k) == "{t}1" {
			// Written during the scan, after the snapshot: not seen.
			mustMerge(t, s, 0, "{t}2", ver("a", 1, t0, "v"))
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seen, []string{"{t}1", "{t}3"}) {
		t.Fatalf("scan saw %q", seen)
	}
	if got := scanKeys(t, s, 0, slot, nil, 0); len(got) != 3 {
		t.Fatalf("next scan: %q", got)
	}
}

func TestFlushDBAndFlushAll(t *testing.T) {
	s := newTestStore(t, nil)
	keys := []string{"foo", "bar", "hello", "", "{tag}x"}
	for db := range 3 {
		for _, k := range keys {
			mustMerge(t, s, db, k, ver("a", 1, t0, "v"))
		}
	}
	if err := s.PutHint("n2", 0, []byte("foo"), version.Siblings{ver("a", 1, t0, "v")}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMeta("node-id", []byte("n1")); err != nil {
		t.Fatal(err)
	}
	if err := s.FlushDB(1); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if got := mustGet(t, s, 1, k); got != nil {
			t.Errorf("after FlushDB(1): db 1 %q = %v", k, values(got))
		}
		for _, db := range []int{0, 2} {
			if got := mustGet(t, s, db, k); got == nil {
				t.Errorf("FlushDB(1) removed db %d %q", db, k)
			}
		}
	}
	// Writes after a flush work as usual.
	mustMerge(t, s, 1, "foo", ver("a", 1, t0, "again"))
	if got := values(mustGet(t, s, 1, "foo")); !slices.Equal(got, []string{"again"}) {
		t.Errorf("write after FlushDB: %q", got)
	}

	if err := s.FlushAll(); err != nil {
		t.Fatal(err)
	}
	for db := range 3 {
		for _, k := range keys {
			if got := mustGet(t, s, db, k); got != nil {
				t.Errorf("after FlushAll: db %d %q = %v", db, k, values(got))
			}
		}
	}
	if n, _ := s.HintCounts(); n["n2"] != 1 {
		t.Errorf("FlushAll removed hints: %v", n)
	}
	if v, ok, err := s.GetMeta("node-id"); err != nil || !ok || string(v) != "n1" {
		t.Errorf("FlushAll removed meta: %q %v %v", v, ok, err)
	}
}
