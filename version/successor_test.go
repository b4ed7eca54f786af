package version

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

// generalSuccessor is the way AppendSuccessor short-cuts, as the engine
// takes it for any write: decode, increment the clock, check the new
// version, merge, encode. ok is false where that way refuses (old does not
// decode, or the new clock is not valid).
func generalSuccessor(old []byte, v Version) (rec []byte, cur Siblings, ok bool) {
	cur, err := Decode(old)
	if len(old) > 0 && err != nil {
		return nil, nil, false
	}
	v.Clock = cur.Clock().Increment(v.Writer, v.Timestamp)
	if !v.Clock.Valid() || len(v.Writer) > maxNodeIDLen { // the engine refuses both
		return nil, cur, false
	}
	return Merge(cur, Siblings{v}).AppendBinary(nil), cur, true
}

// checkSuccessor compares AppendSuccessor with generalSuccessor for one old
// record and write, and reports whether the short cut was taken. It must be
// taken for every old that is empty or of one version, whose successor
// needs no truncation.
func checkSuccessor(t *testing.T, d *Decoder, old []byte, v Version) bool {
	t.Helper()
	want, cur, wantOK := generalSuccessor(old, v)
	prefix := []byte("key")
	got, prev, ok := d.AppendSuccessor(prefix[:len(prefix):len(prefix)], old, v)
	if !ok {
		if !bytes.Equal(got, prefix) {
			t.Fatalf("declined, but returned %q, not b as it was", got)
		}
		c := cur.Clock()
		_, named := c.find(v.Writer)
		// A record of no versions ("\x02\x00") is left to the general way
		// too: no store writes one.
		if wantOK && (len(old) == 0 || len(cur) == 1) && (named || len(c) < MaxClockEntries) {
			t.Fatalf("declined old %x (%d versions, clock %v) for writer %q", old, len(cur), c, v.Writer)
		}
		return false
	}
	if !wantOK {
		t.Fatalf("took old %x for writer %q, which the general way refuses", old, v.Writer)
	}
	if !bytes.HasPrefix(got, prefix) || !bytes.Equal(got[len(prefix):], want) {
		t.Fatalf("old %x, writer %q at %d:\n got %x\nwant %x", old, v.Writer, v.Timestamp, got[len(prefix):], want)
	}
	switch len(cur) {
	case 0:
		if !identical(Siblings{prev}, Siblings{{}}) {
			t.Fatalf("old %x holds nothing, but prev is %+v", old, prev)
		}
	case 1:
		p := prev
		p.Clock = cur[0].Clock
		if !identical(Siblings{p}, cur) {
			t.Fatalf("prev %+v, want the version old holds, %+v", prev, cur[0])
		}
	default:
		t.Fatalf("took old %x of %d versions", old, len(cur))
	}
	return true
}

func TestAppendSuccessorSamples(t *testing.T) {
	var d Decoder
	writers := []string{"a", "b", "n00", "zz", hexA, hexB, hexA + ".18a", strings.Repeat("w", maxNodeIDLen)}
	taken := 0
	for name, s := range sampleRecords() {
		for _, old := range [][]byte{s.AppendBinary(nil), appendV1(s)} {
			if len(s) == 0 {
				old = nil
			}
			for _, w := range writers {
				for _, ts := range []HLC{0, 5, 1 << 40, ^HLC(0)} {
					v := Version{Timestamp: ts, Writer: w, Kind: KindString, Value: []byte("new " + name)}
					if checkSuccessor(t, &d, old, v) {
						taken++
					}
					v.ExpireAt, v.Value = 1_700_000_000_000, nil
					checkSuccessor(t, &d, old, v)
					v.ExpireAt, v.Tombstone, v.Kind = 0, true, 0 // a DEL
					checkSuccessor(t, &d, old, v)
				}
			}
		}
	}
	if taken == 0 {
		t.Fatal("the short cut was never taken")
	}
}

// TestAppendSuccessorDeclines covers the olds the short cut leaves to the
// general way, each of which it must decline.
func TestAppendSuccessorDeclines(t *testing.T) {
	var d Decoder
	v := Version{Timestamp: 50, Writer: "new", Kind: KindString, Value: []byte("v")}
	maxed := ver("new=18446744073709551615", 5, "new", "v")
	for name, old := range map[string][]byte{
		"siblings":      Merge(Siblings{ver("a=1", 1, "a", "x")}, Siblings{ver("b=1", 2, "b", "y")}).AppendBinary(nil),
		"full clock":    Siblings{{Clock: fullClock(MaxClockEntries), Timestamp: 9, Writer: "n00", Kind: KindString}}.AppendBinary(nil),
		"counter limit": Siblings{maxed}.AppendBinary(nil),
		"no versions":   {recordFormat, 0},
		"trailing":      append(Siblings{ver("a=1", 1, "a", "x")}.AppendBinary(nil), 0),
		"format 3":      {3, 1},
		"truncated":     Siblings{ver("a=1", 1, "a", "xyz")}.AppendBinary(nil)[:8],
	} {
		if got, _, ok := d.AppendSuccessor(nil, old, v); ok {
			t.Errorf("%s: took it, giving %x", name, got)
		}
		checkSuccessor(t, &d, old, v)
	}
	if _, _, ok := d.AppendSuccessor(nil, nil, Version{Timestamp: 1}); ok {
		t.Error("took a write with no writer, whose clock is not valid")
	}
	long := Version{Timestamp: 1, Writer: strings.Repeat("w", maxNodeIDLen+1)}
	if got, _, ok := d.AppendSuccessor(nil, nil, long); ok {
		t.Errorf("took a writer of %d bytes, giving %x, which Decode refuses", len(long.Writer), got)
	}
}

func TestAppendSuccessorRandom(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 7))
	var d Decoder
	ids := []string{"a", "b", "c", hexA, hexB}
	taken := 0
	for range 20000 {
		var s Siblings
		for range rng.IntN(3) {
			r := randomVersion(rng, 3, 4)
			for i := range r.Clock { // cluster-style IDs too
				if rng.IntN(3) == 0 {
					r.Clock[i].Node = strings.Repeat(r.Clock[i].Node, 40)
				}
			}
			r.Clock = normalize(r.Clock)
			r.Timestamp = HLC(rng.Uint64N(1 << 50))
			s = Merge(s, Siblings{r})
		}
		old := s.AppendBinary(nil)
		if len(s) == 0 && rng.IntN(2) == 0 {
			old = nil
		} else if rng.IntN(4) == 0 {
			old = appendV1(s)
		}
		v := Version{
			Timestamp: HLC(rng.Uint64N(1 << 50)),
			Writer:    ids[rng.IntN(len(ids))],
			Kind:      KindString,
			Value:     []byte{byte(rng.IntN(256))},
		}
		switch rng.IntN(5) {
		case 0:
			v.ExpireAt = rng.Int64N(1 << 42)
		case 1:
			v.Tombstone, v.Kind, v.Value = true, 0, nil
		}
		if checkSuccessor(t, &d, old, v) {
			taken++
		}
	}
	if taken < 5000 {
		t.Fatalf("the short cut was taken %d times in 20000", taken)
	}
}

// normalize sorts a clock's entries by node and drops repeated nodes, so
// that test clocks built with substituted IDs stay well formed.
func normalize(c Clock) Clock {
	out := Clock{}
	for _, e := range c {
		i, ok := out.find(e.Node)
		if !ok {
			out = append(out[:i], append(Clock{e}, out[i:]...)...)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// FuzzAppendSuccessor: for any old bytes and write, AppendSuccessor never
// panics, and when it takes the short cut its record is the general way's.
func FuzzAppendSuccessor(f *testing.F) {
	for _, s := range sampleRecords() {
		f.Add(s.AppendBinary(nil), "a", uint64(7), int64(0))
		f.Add(appendV1(s), hexA, uint64(1)<<40, int64(5))
	}
	f.Add([]byte{}, "", uint64(0), int64(0))
	f.Fuzz(func(t *testing.T, old []byte, writer string, ts uint64, expireAt int64) {
		in := bytes.Clone(old)
		var d Decoder
		checkSuccessor(t, &d, old, Version{Timestamp: HLC(ts), Writer: writer, ExpireAt: expireAt, Kind: KindString, Value: []byte("v")})
		if !bytes.Equal(in, old) {
			t.Fatal("AppendSuccessor modified old")
		}
	})
}

// The short cut allocates nothing but the record, and nothing at all when
// b has room for it.
func TestAppendSuccessorAllocations(t *testing.T) {
	var d Decoder
	old := Siblings{ver(hexA+"=7@5 "+hexB+"=2@1", 9, hexA, strings.Repeat("x", 100))}.AppendBinary(nil)
	v := Version{Timestamp: 1 << 40, Writer: hexA, Kind: KindString, Value: []byte(strings.Repeat("y", 100))}
	buf := make([]byte, 0, 512)
	d.AppendSuccessor(buf, old, v) // remember the IDs
	if n := testing.AllocsPerRun(100, func() {
		if _, _, ok := d.AppendSuccessor(buf, old, v); !ok {
			t.Fatal("declined")
		}
	}); n != 0 {
		t.Fatalf("%v allocations with room in b, want 0", n)
	}
}
