package engine

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/ringstore/ringstore/ring"
	"github.com/ringstore/ringstore/version"
)

// corruptRecords are byte strings that are not records.
func corruptRecords() map[string][]byte {
	valid := version.Siblings{ver("a", 1, t0, "value")}.AppendBinary(nil)
	dominated := []byte{valid[0], 2} // the current format, two versions
	dominated = append(dominated, version.Siblings{ver("a", 1, t0, "x")}.AppendBinary(nil)[2:]...)
	dominated = append(dominated, version.Siblings{ver("a", 2, t0, "y")}.AppendBinary(nil)[2:]...)
	return map[string][]byte{
		"empty":          {},
		"unknown format": {0x03, 0x00},
		"format only":    {0x02},
		"format 1 only":  {0x01},
		"huge count":     {0x02, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"format 1 huge":  {0x01, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"truncated":      valid[:len(valid)-2],
		"trailing byte":  append(valid[:len(valid):len(valid)], 0),
		"huge value len": append(valid[:len(valid)-6:len(valid)-6], 0xff, 0xff, 0xff, 0xff, 0x0f),
		"dominated pair": dominated,
		"bad varint":     {0x02, 0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80},
		"random":         []byte("\x01\x03\x07garbage\xff\x00\x13"),
		"all ones":       {0xff, 0xff, 0xff, 0xff},
	}
}

// putRaw stores raw as key's record straight into pebble, as a damaged disk
// would, and makes the record cache forget key (which also ends its
// completeness: the cache would otherwise answer "absent" without pebble).
func putRaw(t *testing.T, s *Store, db int, key, raw []byte) {
	t.Helper()
	k := appendDataKey(nil, db, key)
	if err := s.db.Set(k, raw, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	s.cache.forget(s.hash(k), k)
}

func TestCorruptRecordIsAnError(t *testing.T) {
	for name, raw := range corruptRecords() {
		t.Run(name, func(t *testing.T) {
			s := newTestStore(t, newFakeClock(t0))
			key := []byte("k" + name)
			putRaw(t, s, 3, key, raw)
			check := func(op string, err error) {
				t.Helper()
				if !errors.Is(err, version.ErrCorrupt) {
					t.Fatalf("%s = %v, want an error wrapping version.ErrCorrupt", op, err)
				}
				var ce *CorruptError
				if !errors.As(err, &ce) || ce.DB != 3 || string(ce.Key) != string(key) {
					t.Fatalf("%s = %v, want a *CorruptError naming db 3 key %q", op, err, key)
				}
			}
			_, err := s.Get(3, key)
			check("Get", err)
			_, err = s.Merge(3, key, version.Siblings{ver("b", 1, t0, "new")})
			check("Merge", err)
			check("ScanSlot", s.ScanSlot(3, ring.Slot(key), nil, func([]byte, version.Siblings) bool { return true }))

			// Merge left the bytes as they were; expiry skips and counts them.
			// The walk reads only what the counts list, and a record that
			// went bad on disk is listed when Open finds it: reopen first.
			s = reopen(t, s)
			s.expireCycle()
			if st := s.Stats(); st.CorruptRecords != 1 || st.RecordsWritten != 0 {
				t.Fatalf("stats %+v, want one corrupt record and no writes", st)
			}
			val, closer, err := s.db.Get(appendDataKey(nil, 3, key))
			if err != nil || string(val) != string(raw) {
				t.Fatalf("stored bytes changed: %q, %v", val, err)
			}
			closer.Close()
		})
	}
}

func TestScanResumesPastCorruptRecord(t *testing.T) {
	s := newTestStore(t, nil)
	slot := ring.Slot([]byte("t"))
	for i := range 3 {
		mustMerge(t, s, 0, fmt.Sprintf("{t}%d", i), ver("a", 1, t0, "v"))
	}
	putRaw(t, s, 0, []byte("{t}1"), []byte("junk"))
	var seen []string
	visit := func(k []byte, _ version.Siblings) bool { seen = append(seen, string(k)); return true }
	err := s.ScanSlot(0, slot, nil, visit)
	var ce *CorruptError
	if !errors.As(err, &ce) || string(ce.Key) != "{t}1" {
		t.Fatalf("scan = %v, want a *CorruptError for {t}1", err)
	}
	if err := s.ScanSlot(0, slot, ce.Key, visit); err != nil {
		t.Fatalf("resumed scan: %v", err)
	}
	if fmt.Sprint(seen) != "[{t}0 {t}2]" {
		t.Fatalf("saw %q", seen)
	}
}
