package version

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// sampleRecords are valid sibling sets of several shapes.
func sampleRecords() map[string]Siblings {
	big := ver("a=1", MakeHLC(1_700_000_000_000, 3), "a", strings.Repeat("x", 300))
	del := ver("a=2@9 b=1@4", 77, "b", "")
	del.Tombstone, del.Kind, del.Value = true, 0, nil
	exp := ver("c=5@1", 12, "c", "soon")
	exp.ExpireAt = 1_700_000_000_123
	neg := ver("d=1", 13, "d", "")
	neg.ExpireAt = -1 // nonsense, but representable
	full := Version{Clock: fullClock(MaxClockEntries), Timestamp: 99, Writer: "n00", Kind: KindString, Value: []byte("full")}
	huge := ver("z=18446744073709551615@18446744073709551615", ^HLC(0), strings.Repeat("w", maxNodeIDLen), "max")
	return map[string]Siblings{
		"empty":       nil,
		"one":         {ver("a=1@5", 5, "a", "v")},
		"empty clock": {{Timestamp: 1, Kind: KindString, Value: []byte("orphan")}},
		"big value":   {big},
		"tombstone":   {del},
		"expiring":    {exp},
		"negative":    {neg},
		"full clock":  {full},
		"extremes":    {huge},
		"siblings":    Merge(Siblings{del}, Merge(Siblings{exp}, Siblings{ver("e=1", 5, "e", "")})),
		// Node IDs as a cluster makes them (packed in version 2): the
		// writer's entry, a writer the clock does not name, and hex IDs
		// among others.
		"cluster write":  {ver(hexA+"=7@"+ts+" "+hexB+"=2@1700000000", 1_700_000_123_456<<16, hexA, "value")},
		"foreign writer": {ver(hexA+"=1@5", 6, hexB, "v")},
		"mixed IDs":      {ver(hexA+"=3@8 "+hexA+".18a=1@9 "+hexB+"=1@20", 4, hexA+".18a", "v")},
	}
}

// Node IDs in the form clusters give them (40 lowercase hex digits).
const (
	hexA = "00ff10a9b3c4d5e6f708192a3b4c5d6e7f8091a2"
	hexB = "e0ff10a9b3c4d5e6f708192a3b4c5d6e7f8091af"
	ts   = "111411208090812416" // 1_700_000_123_456<<16
)

func TestRecordRoundTrip(t *testing.T) {
	for name, s := range sampleRecords() {
		if why := canonical(s); why != "" {
			t.Fatalf("%s: sample not canonical: %s", name, why)
		}
		b := s.AppendBinary([]byte("prefix"))
		if !bytes.HasPrefix(b, []byte("prefix")) {
			t.Fatalf("%s: AppendBinary lost the prefix", name)
		}
		b = b[len("prefix"):]
		got, err := Decode(b)
		if err != nil {
			t.Errorf("%s: Decode: %v", name, err)
			continue
		}
		if !got.Equal(s) || !identical(got, s) {
			t.Errorf("%s: round trip gives %q, want %q", name, values(got), values(s))
		}
		if re := got.AppendBinary(nil); !bytes.Equal(re, b) {
			t.Errorf("%s: re-encoding differs:\n%x\n%x", name, re, b)
		}
	}
}

// randomSiblings makes a random canonical set: random versions with
// random clocks over a few nodes, reduced by Merge. Half the sets name their
// nodes as clusters do (40 hex digits, which format 2 packs).
func randomSiblings(rng *rand.Rand) Siblings {
	var s Siblings
	hexIDs := rng.IntN(2) == 0
	for range rng.IntN(6) {
		v := randomVersion(rng, 4+rng.IntN(MaxClockEntries-3), 300)
		if hexIDs {
			v = clusterIDs(v)
		}
		if rng.IntN(3) == 0 {
			v.Value = make([]byte, rng.IntN(200))
			for i := range v.Value {
				v.Value[i] = byte(rng.Uint32())
			}
		}
		v.Timestamp = HLC(rng.Uint64() >> rng.IntN(64))
		v.ExpireAt = rng.Int64() >> rng.IntN(64)
		s = s.Add(v)
	}
	return s
}

// clusterIDs renames v's one-letter node IDs as 40 hex digits, in the same
// order.
func clusterIDs(v Version) Version {
	id := func(n string) string { return fmt.Sprintf("%x%039d", n[0]-'a', 7) }
	c := make(Clock, len(v.Clock))
	for i, e := range v.Clock {
		c[i] = Entry{Node: id(e.Node), Counter: e.Counter, Stamp: e.Stamp}
	}
	v.Clock, v.Writer = c, id(v.Writer)
	return v
}

func TestRecordRoundTripRandom(t *testing.T) {
	t.Parallel()
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 3))
	for i := range 2000 {
		s := randomSiblings(rng)
		b := s.AppendBinary(nil)
		got, err := Decode(b)
		if err != nil || !got.Equal(s) {
			t.Fatalf("seed %d case %d: round trip of %q gives %q, %v", seed, i, values(s), values(got), err)
		}
		if re := got.AppendBinary(nil); !bytes.Equal(re, b) {
			t.Fatalf("seed %d case %d: re-encoding differs", seed, i)
		}
	}
}

// checkDecoded fails unless err wraps ErrCorrupt or s is a canonical set
// that encodes back to exactly b.
func checkDecoded(t *testing.T, b []byte, s Siblings, err error) {
	t.Helper()
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Decode(%x): error %v does not wrap ErrCorrupt", b, err)
		}
		if s != nil {
			t.Fatalf("Decode(%x): error %v with a result", b, err)
		}
		return
	}
	if why := canonical(s); why != "" {
		t.Fatalf("Decode(%x) accepted a non-canonical set: %s", b, why)
	}
	re := s.AppendBinary(nil)
	if b[0] == recordFormatV1 {
		re = appendV1(s)
	}
	if !bytes.Equal(re, b) {
		t.Fatalf("Decode(%x) accepted bytes that re-encode as %x", b, re)
	}
}

func TestDecodeTruncated(t *testing.T) {
	for name, s := range sampleRecords() {
		b := s.AppendBinary(nil)
		for i := range len(b) {
			got, err := Decode(b[:i])
			if err == nil {
				t.Errorf("%s: prefix of %d/%d bytes decodes to %q", name, i, len(b), values(got))
				continue
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s: prefix of %d bytes: %v does not wrap ErrCorrupt", name, i, err)
			}
		}
	}
}

// TestDecodeCorrupted changes every byte of every sample to every other
// value: each result is an ErrCorrupt or a canonical set whose encoding is
// exactly the corrupted bytes, and nothing panics.
func TestDecodeCorrupted(t *testing.T) {
	t.Parallel()
	accepted := 0
	for _, s := range sampleRecords() {
		b := s.AppendBinary(nil)
		for i := range b {
			orig := b[i]
			for x := range 256 {
				// Long records (their bytes are mostly value or writer
				// text) get the bit patterns that matter to varints and
				// flags; short ones every value.
				if byte(x) == orig || (len(b) > 128 && !slices.Contains([]byte{0, 1, 2, 0x7f, 0x80, 0xff, orig ^ 1, orig ^ 0x80}, byte(x))) {
					continue
				}
				c := bytes.Clone(b)
				c[i] = byte(x)
				got, err := Decode(c)
				checkDecoded(t, c, got, err)
				if err == nil {
					accepted++
				}
			}
		}
	}
	t.Logf("%d corruptions decoded as other valid sets", accepted)
}

// rawRecord encodes versions with AppendBinary without checking them, so
// tests can build records no canonical set has.
func rawRecord(vs ...Version) []byte { return Siblings(vs).AppendBinary(nil) }

// rawRecordV1 is rawRecord in format 1.
func rawRecordV1(vs ...Version) []byte { return appendV1(Siblings(vs)) }

func TestDecodeRejects(t *testing.T) {
	for _, format := range []struct {
		name      string
		rawRecord func(...Version) []byte
		format    byte
	}{{"format 2", rawRecord, recordFormat}, {"format 1", rawRecordV1, recordFormatV1}} {
		t.Run(format.name, func(t *testing.T) {
			testDecodeRejects(t, format.rawRecord, format.format)
		})
	}
}

func testDecodeRejects(t *testing.T, rawRecord func(...Version) []byte, recordFormat byte) {
	v1 := ver("a=1", 10, "a", "v1")
	v2 := ver("a=2", 20, "a", "v2")
	w1 := ver("b=1", 15, "b", "w1")
	w1twin := ver("b=1", 16, "c", "w1")
	one := rawRecord(v1)
	tests := []struct {
		name string
		b    []byte
	}{
		{"nothing", nil},
		{"format 0", append([]byte{0}, one[1:]...)},
		{"format 3", append([]byte{3}, one[1:]...)},
		{"dominated version included", rawRecord(v1, v2)},
		{"dominated version last", rawRecord(v2, v1)},
		{"unsorted siblings", rawRecord(v2, w1)},
		{"equal clocks", rawRecord(w1, w1twin)},
		{"duplicate version", rawRecord(w1, w1)},
		{"duplicate clock entries", rawRecord(ver("a=1 a=2", 1, "a", ""))},
		{"unsorted clock entries", rawRecord(ver("b=1 a=2", 1, "a", ""))},
		{"zero counter", rawRecord(ver("a=0", 1, "a", ""))},
		{"zero counter among others", rawRecord(ver("a=1 b=0 c=1", 1, "a", ""))},
		{"empty node ID", rawRecord(ver("=1", 1, "a", ""))},
		{"too many clock entries", rawRecord(Version{Clock: fullClock(MaxClockEntries + 1), Writer: "n00"})},
		{"node ID too long", rawRecord(ver(strings.Repeat("n", maxNodeIDLen+1)+"=1", 1, "a", ""))},
		{"writer too long", rawRecord(ver("a=1", 1, strings.Repeat("w", maxNodeIDLen+1), ""))},
		{"unknown flags", func() []byte { b := rawRecord(v1); b[len(b)-5] = 2; return b }()},
		{"trailing byte", append(rawRecord(v1), 0)},
		{"count too high", func() []byte { b := rawRecord(v1); b[1] = 2; return b }()},
		{"count too low", func() []byte { b := rawRecord(w1, v2); b[1] = 1; return b }()},
		{"count over MaxSiblings", binary.AppendUvarint([]byte{recordFormat}, MaxSiblings+1)},
		{"non-minimal count", append([]byte{recordFormat, 0x81, 0x00}, one[2:]...)},
		{"non-minimal empty count", []byte{recordFormat, 0x80, 0x00}},
		{"varint overflow", []byte{recordFormat, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}},
	}
	for _, tt := range tests {
		got, err := Decode(tt.b)
		if err == nil {
			t.Errorf("%s: Decode(%x) accepted %q", tt.name, tt.b, values(got))
			continue
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: error %v does not wrap ErrCorrupt", tt.name, err)
		}
	}
	// The unknown-flags record must really have had its flags byte hit.
	if b := rawRecord(v1); b[len(b)-5] != 0 || b[len(b)-4] != byte(KindString) {
		t.Fatalf("flags byte not where the test expects it: %x", b)
	}
}

// bytesAllocated returns the heap bytes f allocates per call.
func bytesAllocated(runs int, f func()) uint64 {
	f() // warm up
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(runs)
}

// TestDecodeHostileSizes checks that declared counts and lengths cost
// nothing until bytes back them: a record that claims much and holds little
// is rejected without allocating more than its own size.
func TestDecodeHostileSizes(t *testing.T) {
	oneVersion := rawRecord(ver("a=1@1 b=2@2", 5, "a", strings.Repeat("v", 1000)))
	v1 := []byte{recordFormatV1}
	tests := []struct {
		name string
		b    []byte
	}{
		{"huge sibling count", binary.AppendUvarint([]byte{recordFormat}, 1<<62)},
		{"MaxSiblings declared, little data", append(binary.AppendUvarint([]byte{recordFormat}, MaxSiblings), make([]byte, 64)...)},
		// A real first version, then nothing (the old decoder allocated
		// room for the declared count here).
		{"count as high as the bytes allow, one version present", append(binary.AppendUvarint([]byte{recordFormat}, uint64(len(oneVersion)-2)/minVersionLen), oneVersion[2:]...)},
		// Format 2: count, timestamp, clock size, then entries.
		{"clock of 10 declared, two bytes of entries", []byte{recordFormat, 1, 1, MaxClockEntries, 2, 'a', 1, 0, 1, 1}},
		{"huge clock declared", append([]byte{recordFormat, 1, 1}, binary.AppendUvarint(nil, 1<<60)...)},
		{"huge node ID length", append([]byte{recordFormat, 1, 1, 1}, binary.AppendUvarint(nil, 1<<62)...)},
		{"packed node ID, 5 of its 20 bytes", []byte{recordFormat, 1, 1, 1, 0, 1, 2, 3, 4, 5}},
		{"huge writer length", append([]byte{recordFormat, 1, 1, 0, 0}, binary.AppendUvarint(nil, 1<<62)...)},
		{"huge writer index", append([]byte{recordFormat, 1, 1, 0}, binary.AppendUvarint(nil, 1<<62)...)},
		{"huge value length", append([]byte{recordFormat, 1, 1, 0, 0, 1, 0, 0, 1}, binary.AppendUvarint(nil, 1<<62)...)},
		// Format 1: count, clock size, entries, timestamp, writer.
		{"format 1: huge sibling count", binary.AppendUvarint(v1, 1<<62)},
		{"format 1: clock of 10 declared, two bytes of entries", append(v1, 1, MaxClockEntries, 1, 'a', 1, 1, 1, 1, 1)},
		{"format 1: huge clock declared", append(append(v1, 1), binary.AppendUvarint(nil, 1<<60)...)},
		{"format 1: huge node ID length", append(append(v1, 1, 1), binary.AppendUvarint(nil, 1<<62)...)},
		{"format 1: huge writer length", append(append(v1, 1, 0, 1), binary.AppendUvarint(nil, 1<<62)...)},
		{"format 1: huge value length", append(append(v1, 1, 0, 1, 0, 0, 0, 1), binary.AppendUvarint(nil, 1<<62)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Decode(tt.b); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decode(%x) = %v, want ErrCorrupt", tt.b, err)
			}
			n := bytesAllocated(1000, func() { Decode(tt.b) })
			if n > uint64(len(tt.b)) {
				t.Errorf("Decode of %d bytes allocated %d bytes", len(tt.b), n)
			}
		})
	}
}

// TestDecodeAllocs pins the allocations of the hot path: a one-version
// record costs one block holding the sibling slice and the clock, and one
// string holding every node ID (the writer's is shared with its clock
// entry); a Decoder that has seen the IDs saves the string.
func TestDecodeAllocs(t *testing.T) {
	b := rawRecord(ver("node-a=1@1 node-b=2@2 node-c=3@3", 5, "node-b", "value"))
	if n := testing.AllocsPerRun(100, func() { Decode(b) }); n != 2 {
		t.Errorf("Decode of one version with a 3-entry clock: %v allocs, want 2", n)
	}
	var d Decoder
	if n := testing.AllocsPerRun(100, func() { d.Decode(b) }); n != 1 {
		t.Errorf("Decoder.Decode of one version with a 3-entry clock: %v allocs, want 1", n)
	}
	long := rawRecord(ver("a=1 b=1 c=1 d=1 e=1 f=1", 5, "a", "value"))
	if n := testing.AllocsPerRun(100, func() { d.Decode(long) }); n != 1 {
		t.Errorf("Decoder.Decode of one version with a 6-entry clock: %v allocs, want 1", n)
	}
	s, _ := Decode(b)
	if len(s) != 1 || s[0].Writer != "node-b" || s[0].Clock.String() != "[node-a=1@1 node-b=2@2 node-c=3@3]" {
		t.Fatalf("decoded %v %q", s[0].Clock, values(s))
	}
	// Siblings naming the same nodes share their strings: two versions
	// cost the sibling slice (grown once), two clocks and one string.
	two := Siblings{ver("node-a=2 node-b=1", 5, "node-a", "x"), ver("node-a=1 node-b=2", 6, "node-b", "y")}
	b2 := two.AppendBinary(nil)
	if n := testing.AllocsPerRun(100, func() { Decode(b2) }); n != 5 {
		t.Errorf("Decode of two versions: %v allocs, want 5", n)
	}
	if got, err := Decode(b2); err != nil || !identical(got, two) {
		t.Fatalf("decoded %q, %v", values(got), err)
	}
	// A record that fails early allocates nothing.
	bad := []byte{recordFormat, 3}
	if n := testing.AllocsPerRun(100, func() { Decode(bad) }); n != 0 {
		t.Errorf("Decode of a truncated header: %v allocs, want 0", n)
	}
}

func TestMergeAllocs(t *testing.T) {
	old := Siblings{ver("a=1@1", 1, "a", "old")}
	nu := Siblings{ver("a=2@2", 2, "a", "new")}
	sib := Siblings{ver("b=1@1", 1, "b", "sib")}
	if n := testing.AllocsPerRun(100, func() { Merge(old, nu) }); n != 0 {
		t.Errorf("Merge of a version with its successor: %v allocs, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { Merge(nu, old) }); n != 0 {
		t.Errorf("Merge of a version with its predecessor: %v allocs, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { Merge(old, sib) }); n != 1 {
		t.Errorf("Merge of concurrent versions: %v allocs, want 1", n)
	}
}

func TestContextRoundTrip(t *testing.T) {
	clocks := []Clock{
		nil,
		cl("a=1"),
		cl("a=1@5 b=7@9 c=18446744073709551615@18446744073709551615"),
		fullClock(MaxClockEntries),
		// The merge of several siblings' clocks may exceed
		// MaxClockEntries; its token must still be accepted.
		fullClock(MaxClockEntries).Merge(renamed(fullClock(MaxClockEntries), "m")),
		fullClock(60),
	}
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 4))
	for range 500 {
		clocks = append(clocks, randomSiblings(rng).Clock())
	}
	for _, c := range clocks {
		tok := EncodeContext(c)
		if len(tok) > maxContextLen {
			t.Fatalf("token of %v is %d characters", c, len(tok))
		}
		got, err := DecodeContext(tok)
		if err != nil {
			t.Errorf("DecodeContext(EncodeContext(%v)): %v", c, err)
			continue
		}
		if got.String() != c.String() {
			t.Errorf("round trip of %v gives %v", c, got)
		}
		if strings.ContainsAny(tok, "+/=") {
			t.Errorf("token %q is not unpadded URL-safe base64", tok)
		}
	}
}

func TestDecodeContextRejects(t *testing.T) {
	valid := EncodeContext(cl("a=1@5 b=2@6"))
	raw := func(b ...byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	clockBytes := func(c Clock) []byte { return c.appendBinary([]byte{recordFormat}) }
	tests := []struct {
		name  string
		token string
	}{
		{"empty", ""},
		{"not base64", "!!!!"},
		{"standard alphabet", valid[:1] + "+" + valid[2:]},
		{"padded", valid + "="},
		{"impossible length", valid[:len(valid)-len(valid)%4] + "A"},
		{"non-zero trailing bits", "AQB"}, // "AQA" with its unused bits set
		{"line break inside", valid[:2] + "\n" + valid[2:]},
		{"carriage return at end", valid + "\r"},
		{"space", valid[:2] + " " + valid[2:]},
		{"oversized", strings.Repeat("A", maxContextLen+1)},
		{"wrong format byte", raw(append([]byte{2}, clockBytes(cl("a=1"))[1:]...)...)},
		{"format byte only", raw(recordFormat)},
		{"trailing bytes", raw(append(clockBytes(cl("a=1")), 0)...)},
		{"record, not a clock", base64.RawURLEncoding.EncodeToString(rawRecord(ver("a=1", 1, "a", "v")))},
		{"unsorted clock", raw(clockBytes(cl("b=1 a=1"))...)},
		{"duplicate node", raw(clockBytes(cl("a=1 a=2"))...)},
		{"zero counter", raw(clockBytes(cl("a=0"))...)},
		{"empty node ID", raw(clockBytes(cl("=1"))...)},
		{"node ID too long", raw(clockBytes(cl(strings.Repeat("n", maxNodeIDLen+1) + "=1"))...)},
		{"entry count beyond the bytes", raw(recordFormat, 50, 1, 'a', 1, 1)},
		{"non-minimal counter", raw(recordFormat, 1, 1, 'a', 0x81, 0x00, 1)},
	}
	if _, err := DecodeContext(valid); err != nil {
		t.Fatalf("valid token rejected: %v", err)
	}
	if _, err := DecodeContext("AQA"); err != nil {
		t.Fatalf("empty-clock token rejected: %v", err)
	}
	for _, tt := range tests {
		c, err := DecodeContext(tt.token)
		if err == nil {
			t.Errorf("%s: DecodeContext(%q) accepted %v", tt.name, tt.token, c)
			continue
		}
		if !errors.Is(err, ErrBadContext) {
			t.Errorf("%s: error %v does not wrap ErrBadContext", tt.name, err)
		}
	}
}

// TestDecodeContextLimit checks the size limit at its edge: a valid token
// of exactly maxContextLen characters is accepted, one byte more is not.
func TestDecodeContextLimit(t *testing.T) {
	// maxContextLen characters of base64 hold 3072 bytes: the format byte,
	// a one-byte entry count, and entries of len(node)+3 bytes (one-byte
	// length, counter and stamp).
	rest := maxContextLen/4*3 - 2
	var c Clock
	for i := 0; rest > 0; i++ {
		l := min(100, rest-3)
		if rest-(l+3) < 4 && rest-(l+3) > 0 {
			l -= 4 // leave room for a last entry
		}
		node := fmt.Sprintf("n%03d", i) + strings.Repeat("x", l-4)
		c = append(c, Entry{Node: node, Counter: 1, Stamp: 1})
		rest -= l + 3
	}
	tok := EncodeContext(c)
	if len(tok) != maxContextLen {
		t.Fatalf("test built a token of %d characters, want %d", len(tok), maxContextLen)
	}
	if got, err := DecodeContext(tok); err != nil || got.String() != c.String() {
		t.Fatalf("token of exactly %d characters: %v, %v", len(tok), got, err)
	}
	c[len(c)-1].Node += "x"
	tok = EncodeContext(c)
	if _, err := DecodeContext(tok); !errors.Is(err, ErrBadContext) {
		t.Fatalf("token of %d characters: err %v, want ErrBadContext", len(tok), err)
	}
}

// TestAppendBinaryAllocs checks that encoding allocates once, exactly the
// size needed, and not at all into a buffer with room.
func TestAppendBinaryAllocs(t *testing.T) {
	for name, sib := range sampleRecords() {
		b := sib.AppendBinary(nil)
		if len(b) != sib.encodedLen() {
			t.Errorf("%s: encodedLen %d, encoding is %d bytes", name, sib.encodedLen(), len(b))
		}
		if n := testing.AllocsPerRun(10, func() { sib.AppendBinary(nil) }); n != 1 {
			t.Errorf("%s: AppendBinary(nil): %v allocs, want 1", name, n)
		}
		buf := make([]byte, 0, len(b))
		if n := testing.AllocsPerRun(10, func() { sib.AppendBinary(buf) }); n != 0 {
			t.Errorf("%s: AppendBinary into a large enough buffer: %v allocs, want 0", name, n)
		}
	}
}

// TestDecodeFormat1 checks that records stored or sent before format 2 still
// decode, to exactly the sets they were written from.
func TestDecodeFormat1(t *testing.T) {
	var d Decoder
	for name, s := range sampleRecords() {
		b := appendV1(s)
		for _, decode := range []func([]byte) (Siblings, error){Decode, d.Decode} {
			got, err := decode(b)
			if err != nil || !identical(got, s) {
				t.Errorf("%s: format 1 decodes to %q, %v; want %q", name, values(got), err, values(s))
			}
			checkDecoded(t, b, got, err)
		}
		if enc := s.AppendBinary(nil); enc[0] != recordFormat {
			t.Errorf("%s: AppendBinary wrote format %d", name, enc[0])
		}
	}
}

// TestRecordSize pins what format 2 is for: a SET through a cluster node (one
// clock entry, the node's own, and it the writer) of a 100-byte value.
func TestRecordSize(t *testing.T) {
	v := ver(hexA+"=1234@"+ts, 1_700_000_123_456<<16, hexA, strings.Repeat("x", 100))
	s := Siblings{v}
	if n, n1 := len(s.AppendBinary(nil)), len(appendV1(s)); n != 141 || n1 != 209 {
		t.Errorf("record is %d bytes (format 1: %d); want 141 (209)", n, n1)
	}
}

// TestDecodeRejectsFormat2 checks the ways format 2 could say one set twice:
// each is refused, so that equal sets keep equal bytes.
func TestDecodeRejectsFormat2(t *testing.T) {
	// rec builds a one-version record from a clock's encoded entries and an
	// encoded writer.
	rec := func(entries [][]byte, writer []byte) []byte {
		b := []byte{recordFormat, 1, 9, byte(len(entries))}
		for _, e := range entries {
			b = append(b, e...)
		}
		b = append(b, writer...)
		return append(b, 0, 0, byte(KindString), 1, 'v')
	}
	literal := func(id string) []byte { return append([]byte{byte(len(id) + 1)}, id...) }
	entry := func(id []byte) []byte { return append(bytes.Clone(id), 1, 0) } // counter 1, stamp 9
	packedA := appendID(nil, hexA)
	if len(packedA) != 1+packedIDLen {
		t.Fatalf("hexA not packed: %x", packedA)
	}
	// The well-formed records the bad ones are variations of.
	for _, good := range [][]byte{
		rec([][]byte{entry(packedA)}, []byte{1}),
		rec([][]byte{entry(literal("a"))}, []byte{1}),
		rec([][]byte{entry(literal("a"))}, append([]byte{0}, literal("b")...)),
		rec(nil, append([]byte{0}, literal("")...)),
		rec(nil, append([]byte{0}, packedA...)),
	} {
		if _, err := Decode(good); err != nil {
			t.Fatalf("Decode(%x): %v", good, err)
		}
	}
	for _, tt := range []struct {
		name string
		b    []byte
	}{
		{"hex clock ID not packed", rec([][]byte{entry(literal(hexA))}, []byte{1})},
		{"hex writer not packed", rec(nil, append([]byte{0}, literal(hexA)...))},
		{"writer named where the clock has it", rec([][]byte{entry(literal("a"))}, append([]byte{0}, literal("a")...))},
		{"packed writer named where the clock has it", rec([][]byte{entry(packedA)}, append([]byte{0}, packedA...))},
		{"writer entry past the clock", rec([][]byte{entry(literal("a"))}, []byte{2})},
		{"writer entry of an empty clock", rec(nil, []byte{1})},
		{"empty clock ID", rec([][]byte{entry(literal(""))}, []byte{1})},
		{"packed ID cut short", append([]byte{recordFormat, 1, 9, 1, 0}, packedA[1:16]...)},
		{"clock ID too long", rec([][]byte{entry(append([]byte{0x82, 0x02}, strings.Repeat("n", maxNodeIDLen+1)...))}, []byte{1})},
		{"non-minimal ID length", rec([][]byte{entry([]byte{0x82, 0x00, 'a'})}, []byte{1})},
	} {
		got, err := Decode(tt.b)
		if err == nil {
			t.Errorf("%s: Decode(%x) accepted %q", tt.name, tt.b, values(got))
		} else if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: error %v does not wrap ErrCorrupt", tt.name, err)
		}
	}
}

// TestDecodeFormat1Golden decodes records as a release before format 2
// wrote them, byte for byte: appendV1 shares code with the current encoder,
// so only fixed bytes show that old records still read the same.
func TestDecodeFormat1Golden(t *testing.T) {
	a := Version{Clock: Clock{{Node: hexA, Counter: 3, Stamp: MakeHLC(1_700_000_000_000, 0)}}, Timestamp: MakeHLC(1_700_000_000_000, 0), Writer: hexA, Kind: KindString, Value: []byte("old value")}
	b := Version{Clock: Clock{{Node: hexB, Counter: 1, Stamp: MakeHLC(1_700_000_000_500, 2)}}, Timestamp: MakeHLC(1_700_000_000_500, 2), Writer: hexB, Kind: KindString, Value: []byte("sibling"), ExpireAt: 1_900_000_000_000}
	for _, tt := range []struct {
		hex  string
		want Siblings
	}{
		{"010101283030666631306139623363346435653666373038313932613362346335643665376638303931613203808080c0d6fcf3c501808080c0d6fcf3c5012830306666313061396233633464356536663730383139326133623463356436653766383039316132000001096f6c642076616c7565", Siblings{a}},
		{"010201283030666631306139623363346435653666373038313932613362346335643665376638303931613203808080c0d6fcf3c501808080c0d6fcf3c5012830306666313061396233633464356536663730383139326133623463356436653766383039316132000001096f6c642076616c7565012865306666313061396233633464356536663730383139326133623463356436653766383039316166018280d0cfd6fcf3c5018280d0cfd6fcf3c501286530666631306139623363346435653666373038313932613362346335643665376638303931616680e0998dcc6e0001077369626c696e67", Siblings{a, b}},
	} {
		raw, err := hex.DecodeString(tt.hex)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(raw)
		if err != nil || !identical(got, tt.want) {
			t.Errorf("Decode(%s) = %q, %v; want %q", tt.hex[:16], values(got), err, values(tt.want))
		}
		if !bytes.Equal(appendV1(tt.want), raw) {
			t.Errorf("appendV1 no longer writes format 1 as it was")
		}
	}
}

// TestPackable compares packable's word-at-a-time test with the plain
// definition (40 bytes, each a lowercase hex digit) on an ID with every
// byte value at every position, on both string and []byte, and on other
// lengths.
func TestPackable(t *testing.T) {
	isHex := func(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' }
	base := []byte(hexA)
	for pos := range hexIDLen {
		for c := range 256 {
			id := bytes.Clone(base)
			id[pos] = byte(c)
			want := isHex(byte(c))
			if got := packable(id); got != want {
				t.Fatalf("packable(%q) = %v, want %v", id, got, want)
			}
			if got := packable(string(id)); got != want {
				t.Fatalf("packable(string %q) = %v, want %v", id, got, want)
			}
			// The same byte in every position of a word at once.
			all := bytes.Repeat([]byte{byte(c)}, hexIDLen)
			if got := packable(all); got != want {
				t.Fatalf("packable(%q) = %v, want %v", all, got, want)
			}
		}
	}
	for _, id := range []string{"", hexA[:39], hexA + "0", strings.ToUpper(hexA)} {
		if packable(id) {
			t.Errorf("packable(%q) = true", id)
		}
	}
	// appendID packs exactly the packable IDs and spells out the rest.
	for _, id := range []string{hexA, hexB, hexA[:39] + "g", hexA[:39] + "A", "n1", hexA + "0"} {
		got := appendID(nil, id)
		if packable(id) != (got[0] == 0) || len(got) != idLen(id) {
			t.Errorf("appendID(%q) = %x, idLen %d", id, got, idLen(id))
		}
	}
}
