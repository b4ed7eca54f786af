package version

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"unsafe"
)

// TestDecoderSameResult checks that a Decoder decodes exactly as Decode
// does, whatever it remembers, and rejects exactly what Decode rejects.
func TestDecoderSameResult(t *testing.T) {
	var d Decoder
	check := func(what string, b []byte) {
		t.Helper()
		want, werr := Decode(b)
		for range 2 { // cold, then with the IDs remembered
			got, err := d.Decode(b)
			if (err == nil) != (werr == nil) || !identical(got, want) {
				t.Fatalf("%s: Decoder gives %q, %v; Decode gives %q, %v", what, values(got), err, values(want), werr)
			}
		}
	}
	for name, s := range sampleRecords() {
		check(name, s.AppendBinary(nil))
	}
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 3))
	for i := range 500 {
		b := randomSiblings(rng).AppendBinary(nil)
		check(fmt.Sprintf("random %d", i), b)
		if len(b) > 2 {
			b[1+rng.IntN(len(b)-1)] ^= byte(1 + rng.IntN(255))
			check(fmt.Sprintf("corrupted %d", i), b)
		}
	}
}

// TestDecoderSharesIDs checks that records decoded by one Decoder share
// their node ID strings, and that IDs competing for one slot stay correct.
func TestDecoderSharesIDs(t *testing.T) {
	var d Decoder
	b := rawRecord(ver("node-a=1 node-b=2", 5, "node-b", "v"))
	s1, _ := d.Decode(b)
	s2, _ := d.Decode(b)
	if unsafe.StringData(s1[0].Clock[1].Node) != unsafe.StringData(s2[0].Clock[1].Node) ||
		unsafe.StringData(s1[0].Writer) != unsafe.StringData(s2[0].Clock[1].Node) {
		t.Errorf("node IDs decoded twice are separate strings")
	}
	// Find two IDs that share a slot; alternating them must still decode
	// each one right.
	slot := func(id string) uint64 { return idHash([]byte(id)) >> (64 - idBits) }
	a, other := "n0", ""
	for i := 1; other == ""; i++ {
		if id := fmt.Sprintf("n%d", i); slot(id) == slot(a) {
			other = id
		}
	}
	for i := range 4 {
		id := []string{a, other}[i%2]
		s, err := d.Decode(rawRecord(ver(id+"=1", 1, id, "v")))
		if err != nil || s[0].Writer != id || s[0].Clock[0].Node != id {
			t.Fatalf("decoding %s after a colliding ID: %v %q, %v", id, s[0].Clock, s[0].Writer, err)
		}
	}
}

// TestDecoderConcurrent decodes from many goroutines at once, with more IDs
// than slots, for the race detector.
func TestDecoderConcurrent(t *testing.T) {
	var d Decoder
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				id := fmt.Sprintf("node-%d", (g*7+i)%(2*idSlots))
				s, err := d.Decode(rawRecord(ver(id+"=1", 1, id, "v")))
				if err != nil || s[0].Writer != id || s[0].Clock[0].Node != id {
					t.Errorf("decoded %v %q, %v; want %s", s[0].Clock, s[0].Writer, err, id)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestIDHashSpreads checks that IDs differing in one character, as node
// names in tests and small clusters do, land in different slots.
func TestIDHashSpreads(t *testing.T) {
	slots := map[uint64]bool{}
	for i := range 64 {
		slots[idHash(fmt.Appendf(nil, "node-%d", i))>>(64-idBits)] = true
	}
	if len(slots) < 48 {
		t.Errorf("64 IDs fill only %d of %d slots", len(slots), idSlots)
	}
}
