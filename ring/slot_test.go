package ring

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestCRCTable recomputes every entry of crcTable bit by bit.
func TestCRCTable(t *testing.T) {
	if len(crcTable) != 512 {
		t.Fatalf("len(crcTable) = %d, want 512", len(crcTable))
	}
	for i := range 256 {
		want := uint16(i) << 8
		for range 8 {
			if want&0x8000 != 0 {
				want = want<<1 ^ 0x1021
			} else {
				want <<= 1
			}
		}
		if got := uint16(crcTable[2*i])<<8 | uint16(crcTable[2*i+1]); got != want {
			t.Errorf("crcTable[%d] = %#04x, want %#04x", i, got, want)
		}
	}
}

func TestCRC16(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint16
	}{
		{"", 0},
		{"123456789", 0x31c3}, // the published check value of CRC-16/XMODEM
		{"foo", 0xaf96},       // 0xaf96 % 16384 == 12182, CLUSTER KEYSLOT foo
	} {
		if got := crc16([]byte(tc.in)); got != tc.want {
			t.Errorf("crc16(%q) = %#04x, want %#04x", tc.in, got, tc.want)
		}
	}
}

func TestSlot(t *testing.T) {
	whole := func(s string) uint16 { return crc16([]byte(s)) % NumSlots }
	for _, tc := range []struct {
		key  string
		want uint16
		why  string
	}{
		{"foo", 12182, "CLUSTER KEYSLOT foo"},
		{"bar", 5061, "CLUSTER KEYSLOT bar"},
		{"", 0, "empty key"},
		{"123456789", 12739, "check value 0x31c3"},
		{"{user1000}.following", Slot([]byte("user1000")), "tag user1000"},
		{"{user1000}.followers", Slot([]byte("user1000")), "tag user1000"},
		{"{foo}", 12182, "tag is the whole key but the braces"},
		{"x{foo}y", 12182, "tag in the middle"},
		{"{}", whole("{}"), "empty tag: hash the whole key"},
		{"foo{}{bar}", whole("foo{}{bar}"), "first tag empty: hash the whole key"},
		{"foo{{bar}}zap", Slot([]byte("{bar")), "tag is {bar"},
		{"foo{bar}{zap}", 5061, "first tag only"},
		{"foo{bar", whole("foo{bar"), "no closing brace"},
		{"foo}bar{", whole("foo}bar{"), "closing brace before the opening one"},
		{"}{bar}", 5061, "a '}' before the first '{' does not count"},
	} {
		if got := Slot([]byte(tc.key)); got != tc.want {
			t.Errorf("Slot(%q) = %d, want %d (%s)", tc.key, got, tc.want, tc.why)
		}
	}
	if Slot([]byte("{}")) == Slot([]byte("")) {
		t.Errorf("Slot(\"{}\") hashed the empty tag")
	}
}

// TestSlotRange checks random keys stay below NumSlots and that a tagged key
// always lands with its tag.
func TestSlotRange(t *testing.T) {
	seed := rand.Uint64()
	r := rand.New(rand.NewPCG(seed, 0))
	for range 2000 {
		key := make([]byte, r.IntN(40))
		for i := range key {
			key[i] = "ab{}x"[r.IntN(5)]
		}
		s := Slot(key)
		if s >= NumSlots {
			t.Fatalf("seed %d: Slot(%q) = %d, out of range", seed, key, s)
		}
		tag := fmt.Appendf(nil, "%x", r.Uint32())
		tagged := append(append(append([]byte("{"), tag...), '}'), key...)
		if got, want := Slot(tagged), Slot(tag); got != want {
			t.Fatalf("seed %d: Slot(%q) = %d, want Slot(%q) = %d", seed, tagged, got, tag, want)
		}
	}
}

func TestSlotDoesNotAllocate(t *testing.T) {
	keys := [][]byte{[]byte("foo"), []byte("{user1000}.following"), []byte("foo{}{bar}"), make([]byte, 1024)}
	var sink uint16
	if n := testing.AllocsPerRun(100, func() {
		for _, k := range keys {
			sink += Slot(k)
		}
	}); n != 0 {
		t.Errorf("Slot allocates %v times per run", n)
	}
	_ = sink
}
