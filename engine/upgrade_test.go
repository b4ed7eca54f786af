package engine

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/ringstore/ringstore/ring"
	"github.com/ringstore/ringstore/version"
)

// Records as a store wrote them before record format 2: one version written
// through a cluster node, and two siblings from two nodes, one expiring.
const (
	format1One      = "010101283030666631306139623363346435653666373038313932613362346335643665376638303931613203808080c0d6fcf3c501808080c0d6fcf3c5012830306666313061396233633464356536663730383139326133623463356436653766383039316132000001096f6c642076616c7565"
	format1Siblings = "010201283030666631306139623363346435653666373038313932613362346335643665376638303931613203808080c0d6fcf3c501808080c0d6fcf3c5012830306666313061396233633464356536663730383139326133623463356436653766383039316132000001096f6c642076616c7565012865306666313061396233633464356536663730383139326133623463356436653766383039316166018280d0cfd6fcf3c5018280d0cfd6fcf3c501286530666631306139623363346435653666373038313932613362346335643665376638303931616680e0998dcc6e0001077369626c696e67"
)

// TestOpenUpgradesOldRecords checks that Open rewrites records of an older
// format in the current one, so that a replica upgraded in place and one
// that received the same versions afresh hold equal bytes and digests; and
// that what the records say, and a corrupt record's corruption, survive.
func TestOpenUpgradesOldRecords(t *testing.T) {
	old := newTestStore(t, newFakeClock(t0))
	fresh := newTestStore(t, newFakeClock(t0))
	keys := []string{"one", "siblings"}
	want := map[string]version.Siblings{}
	for i, h := range []string{format1One, format1Siblings} {
		raw, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		if !version.Outdated(raw) {
			t.Fatalf("%s: fixture is not an outdated record", keys[i])
		}
		sib, err := version.Decode(raw)
		if err != nil {
			t.Fatalf("%s: %v", keys[i], err)
		}
		want[keys[i]] = sib
		putRaw(t, old, 2, []byte(keys[i]), raw)
		mustMerge(t, fresh, 2, keys[i], sib...)
	}
	putRaw(t, old, 2, []byte("corrupt"), []byte{0x01, 0x01, 0x07, 'x'})
	old = reopen(t, old)

	for _, key := range keys {
		k := appendDataKey(nil, 2, []byte(key))
		got, closer, err := old.db.Get(k)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		raw := bytes.Clone(got)
		closer.Close()
		if version.Outdated(raw) {
			t.Errorf("%s: still in the old format after Open", key)
		}
		if fr, ok := fresh.CachedRecord(2, []byte(key)); !ok || !bytes.Equal(raw, fr) {
			t.Errorf("%s: upgraded record %x, a fresh store holds %x", key, raw, fr)
		}
		if got := mustGet(t, old, 2, key); !got.Equal(want[key]) {
			t.Errorf("%s: reads %q, want %q", key, values(got), values(want[key]))
		}
		slot := ring.Slot([]byte(key))
		a, _ := old.SlotDigests(slot, slot)
		b, _ := fresh.SlotDigests(slot, slot)
		if a[0] != b[0] {
			t.Errorf("%s: slot %d digest %x after the upgrade, %x in a fresh store", key, slot, a[0], b[0])
		}
	}
	if _, err := old.Get(2, []byte("corrupt")); !errors.Is(err, version.ErrCorrupt) {
		t.Errorf("corrupt record after Open: %v, want ErrCorrupt", err)
	}
}
