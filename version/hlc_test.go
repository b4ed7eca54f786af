package version

import (
	"math/rand/v2"
	"testing"
)

func TestMakeHLC(t *testing.T) {
	tests := []struct {
		ms      int64
		logical uint16
		wantMs  int64
	}{
		{0, 0, 0},
		{1_700_000_000_000, 7, 1_700_000_000_000},
		{-5, 3, 0},                    // before the epoch clamps to 0
		{maxMillis, 65535, maxMillis}, // the largest reading
		{maxMillis + 1, 1, maxMillis}, // past 48 bits clamps rather than wrapping to 0
		{1 << 62, 1, maxMillis},
	}
	for _, tt := range tests {
		h := MakeHLC(tt.ms, tt.logical)
		if h.Millis() != tt.wantMs || h.Logical() != tt.logical {
			t.Errorf("MakeHLC(%d, %d) = (%d, %d), want (%d, %d)", tt.ms, tt.logical, h.Millis(), h.Logical(), tt.wantMs, tt.logical)
		}
	}
	if MakeHLC(maxMillis, 65535) != maxHLC {
		t.Errorf("largest parts do not make the largest reading")
	}
}

func TestHLCNext(t *testing.T) {
	const ms = 1_700_000_000_000
	tests := []struct {
		name string
		h    HLC
		now  int64
		want HLC
	}{
		{"zero clock takes wall time", 0, ms, MakeHLC(ms, 0)},
		{"wall ahead", MakeHLC(ms, 9), ms + 1, MakeHLC(ms+1, 0)},
		{"wall stalls", MakeHLC(ms, 0), ms, MakeHLC(ms, 1)},
		{"wall stalls again", MakeHLC(ms, 1), ms, MakeHLC(ms, 2)},
		{"wall steps back", MakeHLC(ms, 4), ms - 1000, MakeHLC(ms, 5)},
		{"negative wall", MakeHLC(ms, 4), -1, MakeHLC(ms, 5)},
		// Decision: a full logical part carries into the physical part,
		// so the reading runs one millisecond ahead of the wall clock.
		{"logical overflow carries", MakeHLC(ms, 65535), ms, MakeHLC(ms+1, 0)},
		{"logical overflow, wall behind", MakeHLC(ms, 65535), ms - 5, MakeHLC(ms+1, 0)},
		{"after a carry, wall catches up", MakeHLC(ms+1, 0), ms + 1, MakeHLC(ms+1, 1)},
		{"after a carry, wall passes", MakeHLC(ms+1, 3), ms + 2, MakeHLC(ms+2, 0)},
		// The largest reading cannot increase; it stays rather than wrap to 0.
		{"saturates", maxHLC, ms, maxHLC},
		{"wall past 48 bits", MakeHLC(ms, 0), 1 << 62, MakeHLC(maxMillis, 0)},
	}
	for _, tt := range tests {
		if got := tt.h.Next(tt.now); got != tt.want {
			t.Errorf("%s: (%d,%d).Next(%d) = (%d,%d), want (%d,%d)", tt.name,
				tt.h.Millis(), tt.h.Logical(), tt.now, got.Millis(), got.Logical(), tt.want.Millis(), tt.want.Logical())
		}
	}
}

// TestHLCBurst issues more than 65536 readings within one wall-clock
// millisecond: they strictly increase, run ahead of the wall clock by one
// millisecond per 65536 readings, and fall back to wall time once it passes
// them.
func TestHLCBurst(t *testing.T) {
	const ms = 1_700_000_000_000
	const n = 3*65536 + 10
	h := MakeHLC(ms, 0)
	for i := 1; i <= n; i++ {
		next := h.Next(ms)
		if next <= h {
			t.Fatalf("reading %d: %d does not follow %d", i, next, h)
		}
		h = next
	}
	if got, want := h.Millis(), int64(ms+3); got != want {
		t.Errorf("after %d readings in one ms: physical %d, want %d (three carries)", n, got, want)
	}
	if got := h.Next(ms + 10); got != MakeHLC(ms+10, 0) {
		t.Errorf("wall clock passing the reading: got (%d,%d), want (%d,0)", got.Millis(), got.Logical(), ms+10)
	}
}

func TestHLCObserve(t *testing.T) {
	const ms = 1_700_000_000_000
	tests := []struct {
		name      string
		h, remote HLC
		now       int64
		want      HLC
	}{
		{"wall ahead of both", MakeHLC(ms, 5), MakeHLC(ms+1, 5), ms + 2, MakeHLC(ms+2, 0)},
		{"remote ahead", MakeHLC(ms, 5), MakeHLC(ms+7, 3), ms, MakeHLC(ms+7, 4)},
		{"local ahead", MakeHLC(ms+7, 3), MakeHLC(ms, 5), ms, MakeHLC(ms+7, 4)},
		{"equal readings", MakeHLC(ms, 5), MakeHLC(ms, 5), ms, MakeHLC(ms, 6)},
		{"remote at logical max", MakeHLC(ms, 1), MakeHLC(ms, 65535), ms, MakeHLC(ms+1, 0)},
		{"remote at the largest reading", MakeHLC(ms, 1), maxHLC, ms, maxHLC},
	}
	for _, tt := range tests {
		if got := tt.h.Observe(tt.remote, tt.now); got != tt.want {
			t.Errorf("%s: got (%d,%d), want (%d,%d)", tt.name, got.Millis(), got.Logical(), tt.want.Millis(), tt.want.Logical())
		}
	}
}

// TestHLCMonotonic drives one node's clock with a wall clock that jumps
// forwards, stalls and steps back, interleaved with remote readings: every
// reading is strictly above the previous one and above every remote reading
// observed, and never behind the wall clock.
func TestHLCMonotonic(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	for range 200 {
		wall := int64(1_700_000_000_000)
		var h HLC
		for range 500 {
			switch rng.IntN(4) {
			case 0:
				wall += rng.Int64N(5) // small advance or stall
			case 1:
				wall -= rng.Int64N(2000) // NTP step back
			case 2:
				wall += rng.Int64N(2000)
			}
			var next HLC
			var remote HLC
			if rng.IntN(3) == 0 {
				remote = MakeHLC(wall+rng.Int64N(200)-100, uint16(rng.Uint32()))
				next = h.Observe(remote, wall)
			} else {
				next = h.Next(wall)
			}
			if next <= h || next <= remote {
				t.Fatalf("reading (%d,%d) after (%d,%d), remote (%d,%d), wall %d",
					next.Millis(), next.Logical(), h.Millis(), h.Logical(), remote.Millis(), remote.Logical(), wall)
			}
			if next.Millis() < wall {
				t.Fatalf("reading %d ms behind wall clock %d", next.Millis(), wall)
			}
			h = next
		}
	}
}

func TestHLCNextMicros(t *testing.T) {
	const ms = 1735689600000
	us := int64(ms) * 1000
	// Two nodes, one clock: within one millisecond, the later write has the
	// later reading whatever the nodes issued before.
	var busy, idle HLC
	for range 40 {
		busy = busy.NextMicros(us + 100) // many writes at one microsecond
	}
	early, late := busy.NextMicros(us+200), idle.NextMicros(us+201)
	if !(early < late) {
		t.Fatalf("write at +200µs = %d not before write at +201µs = %d", early, late)
	}
	if late.Millis() != ms || early.Millis() != ms {
		t.Fatalf("Millis %d and %d, want %d", early.Millis(), late.Millis(), ms)
	}
	// The last microsecond of a millisecond still fits, below the next one.
	if a, b := HLC(0).NextMicros(us+999), HLC(0).NextMicros(us+1000); !(a < b) || a.Millis() != ms || b.Millis() != ms+1 {
		t.Fatalf("us+999 -> %d (ms %d), us+1000 -> %d (ms %d)", a, a.Millis(), b, b.Millis())
	}
	// A stalled or stepped-back clock still gives strictly increasing readings.
	h := HLC(0).NextMicros(us + 500)
	for i := range 5000 {
		next := h.NextMicros(us + 400 - int64(i))
		if next <= h {
			t.Fatalf("step %d: %d after %d", i, next, h)
		}
		h = next
	}
	if a, b := HLC(0).NextMicros(-5), HLC(0).NextMicros(0); a != b {
		t.Fatalf("a negative clock reads %d, zero reads %d: not clamped", a, b)
	}
}
