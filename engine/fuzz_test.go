package engine

import (
	"errors"
	"testing"

	"github.com/ringstore/ringstore/version"
)

// FuzzDecodeRecord feeds arbitrary bytes to the engine's record decoding
// path. It must never panic; whatever decodes must be storable as it is
// (checkSiblings accepts it) and re-encode to a record that decodes equal.
func FuzzDecodeRecord(f *testing.F) {
	a := ver("a", 1, t0, "value")
	b := ver("b", 3, t0+7, "\x00\xffbinary")
	tomb := after(version.Siblings{a}, "c", t0+9, "")
	tomb.Tombstone = true
	exp := expiringVersion(a)
	for _, sib := range []version.Siblings{
		{a},
		version.Merge(version.Siblings{a}, version.Siblings{b}),
		{tomb},
		{exp},
		{{Clock: nil, Kind: version.KindString}},
	} {
		f.Add(sib.AppendBinary(nil))
	}
	for _, raw := range corruptRecords() {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		sib, _, err := decodeRecord(raw, nil)
		if err != nil {
			if !errors.Is(err, version.ErrCorrupt) {
				t.Fatalf("decode error %v does not wrap version.ErrCorrupt", err)
			}
			return
		}
		if err := checkSiblings(sib); err != nil {
			t.Fatalf("decoded set would be rejected for storing: %v", err)
		}
		again, _, err := decodeRecord(sib.AppendBinary(nil), nil)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if !again.Equal(sib) {
			t.Fatalf("re-encoded record decodes to %+v, want %+v", again, sib)
		}
		// The engine's copy means the result never aliases the input.
		for i := range raw {
			raw[i] ^= 0xff
		}
		if !again.Equal(sib) {
			t.Fatal("decoded siblings alias the input bytes")
		}
	})
}

// FuzzDecodeHint does the same for stored hint values.
func FuzzDecodeHint(f *testing.F) {
	for _, key := range []string{"", "k", "\x00\xff"} {
		v := []byte{3, byte(len(key))}
		v = append(v, key...)
		f.Add(version.Siblings{ver("a", 1, t0, "v")}.AppendBinary(v))
	}
	f.Add([]byte{})
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, raw []byte) {
		h, err := decodeHint("n", 1, raw)
		if err != nil {
			if !errors.Is(err, version.ErrCorrupt) {
				t.Fatalf("decode error %v does not wrap version.ErrCorrupt", err)
			}
			return
		}
		if err := checkSiblings(h.Siblings); err != nil {
			t.Fatalf("decoded hint would be rejected: %v", err)
		}
	})
}

func expiringVersion(v version.Version) version.Version {
	v.ExpireAt = t0 + 1000
	return v
}
