package engine

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
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
// format in the current one, in several batches, so that a replica upgraded
// in place and one that received the same versions afresh hold equal bytes
// (in pebble and in the record cache) and digests; and that what the records
// say, and a corrupt record, survive as they were.
func TestOpenUpgradesOldRecords(t *testing.T) {
	// Batches of about three records, so that the upgrade commits (and
	// resumes its scan) many times.
	var logged bytes.Buffer
	old := newTestStore(t, newFakeClock(t0), func(c *Config) {
		c.upgradeBatchBytes = 600
		c.Logger = slog.New(slog.NewTextHandler(&logged, nil))
	})
	fresh := newTestStore(t, newFakeClock(t0))
	want := map[string]version.Siblings{}
	for i := range 60 {
		fixture, name := format1One, "one"
		if i%2 == 1 {
			fixture, name = format1Siblings, "siblings"
		}
		raw, err := hex.DecodeString(fixture)
		if err != nil {
			t.Fatal(err)
		}
		if !version.Outdated(raw) {
			t.Fatalf("%s: fixture is not an outdated record", name)
		}
		sib, err := version.Decode(raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		key := fmt.Sprint(name, i)
		want[key] = sib
		putRaw(t, old, 2, []byte(key), raw)
		mustMerge(t, fresh, 2, key, sib...)
	}
	corrupt := []byte{0x01, 0x01, 0x07, 'x'}
	putRaw(t, old, 2, []byte("corrupt"), corrupt)
	old = reopen(t, old)

	stored := func(key string) []byte {
		t.Helper()
		got, closer, err := old.db.Get(appendDataKey(nil, 2, []byte(key)))
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		defer closer.Close()
		return bytes.Clone(got)
	}
	for key, sib := range want {
		raw := stored(key)
		if version.Outdated(raw) {
			t.Errorf("%s: still in the old format after Open", key)
		}
		fr, _ := fresh.CachedRecord(2, []byte(key))
		if !bytes.Equal(raw, fr) {
			t.Errorf("%s: upgraded record %x, a fresh store holds %x", key, raw, fr)
		}
		if cached, ok := old.CachedRecord(2, []byte(key)); !ok || !bytes.Equal(cached, raw) {
			t.Errorf("%s: record cache holds %x, %v; pebble %x", key, cached, ok, raw)
		}
		if got := mustGet(t, old, 2, key); !got.Equal(sib) {
			t.Errorf("%s: reads %q, want %q", key, values(got), values(sib))
		}
	}
	a, _ := old.SlotDigests(0, ring.NumSlots-1)
	b, _ := fresh.SlotDigests(0, ring.NumSlots-1)
	for i := range a {
		if slot := uint16(i); a[i] != b[i] && slot != ring.Slot([]byte("corrupt")) {
			t.Errorf("slot %d digest %x after the upgrade, %x in a fresh store", slot, a[i], b[i])
		}
	}
	if got := stored("corrupt"); !bytes.Equal(got, corrupt) {
		t.Errorf("corrupt record is %x after Open, was %x", got, corrupt)
	}
	if _, err := old.Get(2, []byte("corrupt")); !errors.Is(err, version.ErrCorrupt) {
		t.Errorf("corrupt record after Open: %v, want ErrCorrupt", err)
	}
	if n := strings.Count(logged.String(), "rewriting records in the current format"); n < 5 {
		t.Errorf("the upgrade committed %d batches before its last, want 5 or more:\n%s", n, logged.String())
	}
	if !strings.Contains(logged.String(), "records rewritten in the current format\" records=60") {
		t.Errorf("no log of 60 records rewritten:\n%s", logged.String())
	}
	var keys int64
	for slot := range uint16(ring.NumSlots) {
		n, _, _ := old.SlotKeys(2, slot)
		keys += n
		if m, fm := mortalCount(old, 2, slot), mortalCount(fresh, 2, slot); m != fm && slot != ring.Slot([]byte("corrupt")) {
			t.Errorf("slot %d: %d mortal records counted after the upgrade, %d in a fresh store", slot, m, fm)
		}
	}
	if keys != int64(len(want)) {
		t.Errorf("%d keys counted after the upgrade, want %d", keys, len(want))
	}
}
