package cluster

import (
	"testing"

	"github.com/ringstore/ringstore/ring"
)

func TestHeldRecordRoundTrip(t *testing.T) {
	var h heldSlots
	for _, s := range []int{0, 1, 7, 8, 4095, 9000, ring.NumSlots - 1} {
		h.slots[s] = true
	}
	for _, alone := range []bool{false, true} {
		h.alone = alone
		got, ok := decodeHeld(encodeHeld(&h))
		if !ok || got != h {
			t.Fatalf("alone=%v: round trip lost the record (ok %v)", alone, ok)
		}
	}
	good := encodeHeld(&h)
	for name, b := range map[string][]byte{
		"empty":      nil,
		"short":      good[:len(good)-1],
		"long":       append(append([]byte(nil), good...), 0),
		"format":     append([]byte{2}, good[1:]...),
		"alone flag": append([]byte{heldFormat, 2}, good[2:]...),
	} {
		if _, ok := decodeHeld(b); ok {
			t.Errorf("%s record accepted", name)
		}
	}
}
