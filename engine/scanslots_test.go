package engine

import (
	"fmt"
	"testing"

	"github.com/ringstore/ringstore/ring"
	"github.com/ringstore/ringstore/version"
)

// TestScanSlotsMatchesScanSlot: one iterator over a slot range sees exactly
// what ScanSlot sees slot by slot, db by db.
func TestScanSlotsMatchesScanSlot(t *testing.T) {
	s := newTestStore(t, newFakeClock(1_000_000))
	for db := range 3 {
		for i := range 400 {
			key := []byte(fmt.Sprintf("k%d", i))
			if _, err := s.Merge(db, key, version.Siblings{ver("n1", 1, 1_000_000, fmt.Sprint(db, i))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, r := range [][2]uint16{{0, ring.NumSlots - 1}, {100, 9000}, {5, 5}} {
		for db := range 3 {
			var want, got []string
			for slot := int(r[0]); slot <= int(r[1]); slot++ {
				s.ScanSlot(db, uint16(slot), nil, func(k []byte, _ version.Siblings) bool {
					want = append(want, fmt.Sprint(slot, string(k)))
					return true
				})
			}
			err := s.ScanSlots(db, r[0], r[1], func(slot uint16, k []byte, sib version.Siblings) bool {
				if ring.Slot(k) != slot || len(sib) != 1 {
					t.Fatalf("slot %d key %q siblings %d", slot, k, len(sib))
				}
				got = append(got, fmt.Sprint(slot, string(k)))
				return true
			})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("range %v db %d: ScanSlots saw %d records, ScanSlot %d", r, db, len(got), len(want))
			}
		}
	}
	n := 0
	s.ScanSlots(0, 0, ring.NumSlots-1, func(uint16, []byte, version.Siblings) bool { n++; return n < 10 })
	if n != 10 {
		t.Fatalf("stopped after %d, want 10", n)
	}
	if err := s.ScanSlots(0, 10, 5, nil); err == nil {
		t.Fatal("reversed range accepted")
	}
}
