package ring

import (
	"math/rand/v2"
	"testing"
)

func BenchmarkSlot(b *testing.B) {
	for _, bc := range []struct {
		name string
		key  string
	}{
		{"short", "foo"},
		{"tagged", "{user1000}.following"},
		{"64B", "user:0123456789abcdef0123456789abcdef:session:0123456789abcdef"},
	} {
		key := []byte(bc.key)
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(key)))
			var sink uint16
			for b.Loop() {
				sink += Slot(key)
			}
			_ = sink
		})
	}
}

func BenchmarkPreferenceList(b *testing.B) {
	tb := ringOf(nodeIDs(rand.New(rand.NewPCG(1, 1)), 64))
	dst := make([]string, 0, 64)
	slot := uint16(0)
	b.ReportAllocs()
	for b.Loop() {
		slot = (slot + 997) % NumSlots
		dst = tb.PreferenceList(dst[:0], slot, 3)
	}
}

func BenchmarkWalk64(b *testing.B) {
	tb := ringOf(nodeIDs(rand.New(rand.NewPCG(1, 1)), 64))
	dst := make([]string, 0, 64)
	slot := uint16(0)
	b.ReportAllocs()
	for b.Loop() {
		slot = (slot + 997) % NumSlots
		dst = tb.Walk(dst[:0], slot)
	}
}

// BenchmarkBuild64 replays 64 sequential joins, the work a node does on
// every membership change of a 64-node cluster.
func BenchmarkBuild64(b *testing.B) {
	log := joins(nodeIDs(rand.New(rand.NewPCG(1, 1)), 64))
	b.ReportAllocs()
	for b.Loop() {
		Build(log)
	}
}
