package cluster

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringstore/ringstore/ring"
)

func joinEv(node string, stamp uint64) ring.Event {
	return ring.Event{Kind: ring.EventJoin, Node: node, Stamp: stamp}
}

func leaveEv(node string, stamp uint64) ring.Event {
	return ring.Event{Kind: ring.EventLeave, Node: node, Stamp: stamp}
}

func TestRingLogIsASet(t *testing.T) {
	evs := []ring.Event{joinEv("a", 10), joinEv("b", 11), joinEv("c", 11), leaveEv("b", 20), joinEv("b", 30)}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	want := newRingLog(evs)
	for range 50 {
		shuffled := slices.Clone(evs)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		shuffled = append(shuffled, shuffled[:rng.IntN(len(shuffled))]...) // duplicates
		got := newRingLog(shuffled)
		if got.digest != want.digest || string(got.enc) != string(want.enc) {
			t.Fatalf("seed %d: order %v gives digest %v, want %v", seed, shuffled, got.digest, want.digest)
		}
	}
	if want.digest.Count != 5 || want.maxStamp != 30 {
		t.Fatalf("digest %+v maxStamp %d, want count 5 and max 30", want.digest, want.maxStamp)
	}
	if got := want.table.Members(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("members %v, want a b c", got)
	}
	if !want.mentions("b") || want.mentions("d") {
		t.Fatal("mentions is wrong")
	}
}

func TestRingLogMerge(t *testing.T) {
	lg := newRingLog([]ring.Event{joinEv("a", 1)})
	same, fresh := lg.merge([]ring.Event{joinEv("a", 1), {Kind: 9, Node: "x"}, {Kind: ring.EventJoin}})
	if same != lg || fresh != nil {
		t.Fatalf("merging known and invalid events changed the log: %v", fresh)
	}
	next, fresh := lg.merge([]ring.Event{joinEv("b", 2), joinEv("b", 2), joinEv("a", 1)})
	if !slices.Equal(fresh, []ring.Event{joinEv("b", 2)}) || next.digest.Count != 2 {
		t.Fatalf("fresh %v, count %d", fresh, next.digest.Count)
	}
	if lg.digest.Count != 1 {
		t.Fatal("merge modified the original log")
	}
}

func TestNextStampOrdersAfterEverythingSeen(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	lg := newRingLog(nil)
	s1 := lg.nextStamp(now)
	if s1 != 1_000_000<<16 {
		t.Fatalf("first stamp %d, want the wall clock in the high bits", s1)
	}
	// A remote event from a clock far ahead: our next stamp must follow it,
	// or a Leave we record would replay before the Join it undoes.
	ahead := uint64(5_000_000) << 16
	lg = newRingLog([]ring.Event{joinEv("a", s1), joinEv("b", ahead)})
	if s := lg.nextStamp(now); s <= ahead {
		t.Fatalf("stamp %d does not follow %d", s, ahead)
	}
}

func TestEventsEncoding(t *testing.T) {
	lg := newRingLog([]ring.Event{joinEv(strings.Repeat("ab", 20), 1<<40), leaveEv("x", 0), joinEv("y", 1<<63)})
	got, err := decodeEvents(lg.enc)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, lg.events) {
		t.Fatalf("round trip: %v, want %v", got, lg.events)
	}
	for i := range len(lg.enc) {
		if _, err := decodeEvents(lg.enc[:i]); !errors.Is(err, errBadLog) {
			t.Fatalf("prefix of %d bytes: err %v", i, err)
		}
	}
	for _, bad := range [][]byte{
		{2, 0},                      // unknown format
		{1, 0, 0},                   // trailing byte
		{1, 0xff, 0xff, 0xff, 0x0f}, // count larger than the input
		{1, 1, 3, 1, 1, 'a'},        // unknown kind
		{1, 1, 1, 1, 0},             // empty node (and truncated)
		{1, 1, 1, 1, 65, 'a', 'b'},  // node longer than maxNodeIDLen
		append(append([]byte{1, 1, 1}, slices.Repeat([]byte{0xff}, 11)...), 1, 'a'), // stamp overflows
	} {
		if _, err := decodeEvents(bad); !errors.Is(err, errBadLog) {
			t.Errorf("decodeEvents(%v) = %v, want errBadLog", bad, err)
		}
	}
}

func FuzzDecodeEvents(f *testing.F) {
	f.Add(newRingLog([]ring.Event{joinEv("a", 1), leaveEv("a", 2)}).enc)
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, err := decodeEvents(b)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to a log that decodes the same.
		again, err := decodeEvents(appendEvents(nil, evs))
		if err != nil || !slices.Equal(again, evs) {
			t.Fatalf("re-decode: %v %v, want %v", again, err, evs)
		}
	})
}
